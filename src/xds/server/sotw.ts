// State-of-the-world ADS (StreamAggregatedResources), as istiod's xds.go and Envoy's xDS protocol
// (api/xds_protocol) define it: every response carries a version and a nonce; a request echoing the
// latest nonce ACKs (no error_detail) or NACKs (error_detail) that version; a request with an older nonce
// is stale and ignored; LDS, CDS and NDS are wildcard, EDS and SDS are named subscriptions. The version of
// a response is a hash of exactly the resources it holds, so an unrelated change never pushes and a
// reconnecting proxy that already holds the current content (its request's version_info) is not sent it
// again. A NACKed version is never resent; the proxy keeps its last good config and the next different
// content is pushed when it exists.
import * as grpc from '@grpc/grpc-js';
import { byResourceName, contentVersion } from '../content-version.js';
import { encodeAnyList, encodeDiscoveryResponse, WILDCARD_TYPES, type DiscoveryRequest, type DiscoveryResponse } from '../discovery.js';
import type { ProxyNode } from '../../envoy/node.js';
import type { EncodedResource } from '../snapshot-cache.js';
import { typeState, type AdsCall, type AdsStream, type ProtocolHost, type TypeState } from './stream.js';

/** A state-of-the-world subscription holds only what every subscription does (stream.ts). */
export type SotwTypeState = TypeState;
export type SotwStream = AdsStream<SotwTypeState> & { delta: false; call: AdsCall };

/**
 * One type's resources in name order, their version (a hash of names and contents), and — built on
 * first use, since most requests (ACKs) only compare versions — the whole DiscoveryResponse serialised
 * once for every stream it goes to. Its nonce is unique to this prepared object, so it is unique on
 * every stream it is sent on: a stream is never sent the same prepared response twice (the version
 * would not have changed).
 */
interface PreparedSelection {
  resources: EncodedResource[];
  version: string;
  wire(): { nonce: string; message: Buffer };
}

export class SotwProtocol {
  private nextNonce = 0;
  /** Every resource of one snapshot type, prepared once however many proxies share the snapshot. */
  private readonly fullSelections = new WeakMap<ReadonlyMap<string, EncodedResource>, PreparedSelection>();

  constructor(
    private readonly host: ProtocolHost<SotwStream>,
    private readonly noncePrefix: string,
    private readonly controlPlaneId: string | undefined,
  ) {}

  /** A request on an identified stream: an ACK, a NACK, a stale answer or a (re)subscription. */
  onRequest(conn: SotwStream, req: DiscoveryRequest): void {
    if (!req.typeUrl) return this.host.fail(conn, grpc.status.INVALID_ARGUMENT, 'DiscoveryRequest.type_url is required on an ADS stream');
    const st = typeState(conn, req.typeUrl);
    const node = conn.node!;
    const log = this.host.log;
    if (req.responseNonce !== '' && st.sentNonce !== undefined && req.responseNonce !== st.sentNonce) {
      // xDS protocol: a request with a stale nonce is superseded by the response already in flight.
      log.debug('stale nonce ignored', { node: node.id, type: req.typeUrl, nonce: req.responseNonce, latest: st.sentNonce });
      return;
    }
    if (req.responseNonce !== '' && req.responseNonce === st.sentNonce) {
      this.host.release(st);
      if (req.errorDetail) {
        st.nackedVersion = st.sentVersion;
        st.lastError = req.errorDetail.message;
        // A NACK's version_info is the last version the proxy accepted (and still runs).
        if (req.versionInfo !== '') st.ackedVersion = req.versionInfo;
        log.warn('proxy rejected config (NACK); it keeps its last good config', {
          node: node.id,
          type: req.typeUrl,
          rejectedVersion: st.sentVersion,
          keptVersion: req.versionInfo,
          error: req.errorDetail.message,
        });
        this.host.events.emit('nack', { node, typeUrl: req.typeUrl, version: st.sentVersion, errorDetail: req.errorDetail });
      } else {
        st.ackedVersion = req.versionInfo;
        st.lastError = undefined;
        st.nackedVersion = undefined;
        this.host.events.emit('ack', { node, typeUrl: req.typeUrl, version: req.versionInfo, nonce: req.responseNonce });
      }
    } else if (req.versionInfo !== '') {
      // A proxy resuming after reconnect tells us what it already holds.
      st.ackedVersion = req.versionInfo;
    }
    const names = req.resourceNames.filter((n) => n !== '*');
    st.wildcard = WILDCARD_TYPES.has(req.typeUrl) && (req.resourceNames.length === 0 || req.resourceNames.includes('*'));
    st.names = st.wildcard ? [] : [...new Set(names)].sort();
    this.host.respond(conn, req.typeUrl);
  }

  /**
   * Sends the subscription its selection (authorize.ts: undefined for everything in `byName`) unless the
   * proxy holds that version already or was sent it.
   */
  respond(
    conn: SotwStream,
    st: SotwTypeState,
    node: ProxyNode,
    typeUrl: string,
    byName: ReadonlyMap<string, EncodedResource>,
    selected: EncodedResource[] | undefined,
  ): void {
    const sel = selected ? this.prepare(typeUrl, selected.sort(byResourceName)) : this.fullSelection(typeUrl, byName);
    const version = sel.version;
    if (st.sentVersion === undefined) {
      if (st.ackedVersion === version) {
        st.sentVersion = version; // resumed: the proxy already holds exactly this
        return;
      }
      // A named subscription with nothing to send yet waits (Envoy's initial_fetch_timeout applies).
      if (!st.wildcard && sel.resources.length === 0) return;
    } else if (st.sentVersion === version) {
      return;
    }
    const { nonce, message } = sel.wire();
    if (!this.host.take(conn, st, typeUrl, message.length)) return;
    st.sentVersion = version;
    st.sentNonce = nonce;
    st.sentCount = sel.resources.length;
    conn.writer.send(message);
    this.host.log.debug('pushed', { node: node.id, type: typeUrl, version, nonce, resources: sel.resources.length });
    const events = this.host.events;
    if (events.listenerCount('push') > 0) events.emit('push', { node, typeUrl, version, nonce, names: sel.resources.map((r) => r.name) });
  }

  private fullSelection(typeUrl: string, byName: ReadonlyMap<string, EncodedResource>): PreparedSelection {
    let p = this.fullSelections.get(byName);
    if (!p) {
      p = this.prepare(typeUrl, [...byName.values()].sort(byResourceName));
      this.fullSelections.set(byName, p);
    }
    return p;
  }

  /** `resources` in name order, prepared for the wire (see PreparedSelection). */
  private prepare(typeUrl: string, resources: EncodedResource[]): PreparedSelection {
    const version = contentVersion(typeUrl, resources);
    let wire: { nonce: string; message: Buffer } | undefined;
    return {
      resources,
      version,
      wire: () => {
        if (!wire) {
          const nonce = `${this.noncePrefix}-${++this.nextNonce}`;
          const res: DiscoveryResponse = {
            versionInfo: version,
            resources: [],
            encodedResources: encodeAnyList(
              typeUrl,
              resources.map((r) => r.value),
            ),
            typeUrl,
            nonce,
          };
          if (this.controlPlaneId) res.controlPlaneId = this.controlPlaneId;
          wire = { nonce, message: encodeDiscoveryResponse(res) };
        }
        return wire;
      },
    };
  }
}
