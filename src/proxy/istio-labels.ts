// Istio's standard TCP metric labels for one connection: who this proxy is (its node and workload
// certificate), who the peer is (the inbound listener's peer table, or the chosen endpoint's metadata)
// and the destination service (the upstream cluster's metadata).
import { X509Certificate } from 'node:crypto';
import type { Listener } from '../envoy/envoy-types.js';
import type { ProxyNode } from '../envoy/node.js';
import { decodeWorkloadMetadata, UNKNOWN, workloadMetadataOf, type WorkloadMetadata } from '../envoy/workload-metadata.js';
import type { ClusterManager } from './cluster-manager.js';
import type { UpstreamHost } from './host.js';
import type { ListenerManager } from './listener-manager.js';
import type { DownstreamConnection } from './proxy-context.js';
import type { SecretStore } from './secrets.js';
import { peerIdentityOf } from './tls-context.js';

function namespaceOfPrincipal(p: string): string {
  return /\/ns\/([^/]+)\//.exec(p)?.[1] ?? 'unknown';
}

export class IstioLabels {
  constructor(
    private readonly node: ProxyNode | undefined,
    private readonly secrets: SecretStore,
    private readonly clusters: ClusterManager,
    private readonly listeners: ListenerManager,
  ) {}

  of(c: DownstreamConnection, upstream?: UpstreamHost): Record<string, string> {
    const own = this.ownWorkload();
    const ownPrincipal = this.ownPrincipal() || UNKNOWN;
    const si = c.si;
    const cluster = this.clusters.get(si.upstreamCluster);
    const svc = cluster?.service;
    const inbound = c.trafficDirection === 'INBOUND';
    const peerDown = c.downstreamPeer?.principal ?? '';
    const peerUp = si.upstreamPeerPrincipal;
    // The peer: on inbound, the verified client's entry in the listener's peer table; on outbound, the
    // chosen endpoint's metadata. Only a verified principal selects a table entry.
    const peer = inbound ? (peerDown ? this.inboundPeers(si.listener).get(peerDown) : undefined) : upstream?.workload;
    const src = inbound ? peer : own;
    const dst = inbound ? own : peer;
    return {
      reporter: inbound ? 'destination' : 'source',
      source_workload: src?.workload ?? UNKNOWN,
      source_workload_namespace: inbound ? (peer?.namespace ?? (peerDown ? namespaceOfPrincipal(peerDown) : UNKNOWN)) : own.namespace,
      source_principal: inbound ? peerDown || UNKNOWN : ownPrincipal,
      destination_workload: dst?.workload ?? UNKNOWN,
      destination_workload_namespace: inbound
        ? own.namespace
        : (peer?.namespace ?? (peerUp ? namespaceOfPrincipal(peerUp) : svc?.namespace || UNKNOWN)),
      destination_principal: inbound ? ownPrincipal : peerUp || UNKNOWN,
      destination_service: svc?.host || UNKNOWN,
      destination_service_name: svc?.name || UNKNOWN,
      destination_service_namespace: svc?.namespace || UNKNOWN,
      connection_security_policy: inbound ? (c.downstreamPeer ? 'mutual_tls' : 'none') : UNKNOWN,
      response_flags: si.responseFlags || '-',
      source_app: src?.app ?? UNKNOWN,
      source_version: src?.version ?? UNKNOWN,
      source_canonical_service: src?.canonicalService ?? UNKNOWN,
      source_canonical_revision: src?.canonicalRevision ?? UNKNOWN,
      source_cluster: src?.cluster ?? UNKNOWN,
      destination_app: dst?.app ?? UNKNOWN,
      destination_version: dst?.version ?? UNKNOWN,
      destination_canonical_service: dst?.canonicalService ?? UNKNOWN,
      destination_canonical_revision: dst?.canonicalRevision ?? UNKNOWN,
      destination_cluster: dst?.cluster ?? UNKNOWN,
      request_protocol: 'tcp',
    };
  }

  private ownWorkloadCache: WorkloadMetadata | undefined;
  /** This proxy's own workload, from its node (labels, pod name, CLUSTER_ID), as Istio's stats name it. */
  private ownWorkload(): WorkloadMetadata {
    const n = this.node;
    if (!n)
      return {
        workload: UNKNOWN,
        namespace: UNKNOWN,
        canonicalService: UNKNOWN,
        canonicalRevision: UNKNOWN,
        cluster: UNKNOWN,
        app: UNKNOWN,
        version: UNKNOWN,
      };
    this.ownWorkloadCache ??= workloadMetadataOf({ podName: n.podName, namespace: n.namespace, labels: n.labels, cluster: n.clusterId });
    return this.ownWorkloadCache;
  }

  /** The peer table an inbound listener carries, decoded once per listener version. */
  private readonly peerTables = new WeakMap<Listener, Map<string, WorkloadMetadata>>();
  private inboundPeers(listenerName: string): Map<string, WorkloadMetadata> {
    const l = this.listeners.versions.get(listenerName)?.value;
    if (!l) return new Map();
    let table = this.peerTables.get(l);
    if (!table) {
      table = new Map();
      const peers = l.metadata?.filterMetadata?.meshgate?.peers;
      if (peers && typeof peers === 'object') {
        for (const [principal, entry] of Object.entries(peers as Record<string, unknown>)) {
          const m = decodeWorkloadMetadata(entry as Record<string, unknown>);
          if (m) table.set(principal, m);
        }
      }
      this.peerTables.set(l, table);
    }
    return table;
  }

  private ownPrincipalCache: { version: number; principal: string } | undefined;
  private ownPrincipal(): string {
    const s = this.secrets.get('default');
    if (!s?.certChainPem) return '';
    if (this.ownPrincipalCache?.version !== s.version) {
      const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.certChainPem)?.[0];
      this.ownPrincipalCache = {
        version: s.version,
        principal: first ? (peerIdentityOf(new X509Certificate(first))?.principal ?? '') : '',
      };
    }
    return this.ownPrincipalCache.principal;
  }
}
