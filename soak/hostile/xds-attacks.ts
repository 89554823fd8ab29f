// Hostile xDS clients against a real control plane (its own process): streams with no identity or one
// they cannot prove, malformed discovery requests, and proxies asking for secrets that are not theirs.
// Each is handled when the stream is refused with a gRPC status (UNAUTHENTICATED, PERMISSION_DENIED,
// INVALID_ARGUMENT, ...) and nothing was served, or the bad message is ignored and the same stream
// still answers a valid request; a withheld secret is handled when it never arrives. Afterwards the
// control plane must be alive, ready, and hold no attacker's stream.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { createBenchCa, issueBenchLeaf } from '../../bench/certs.js';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import type { ProxyNode } from '../../src/envoy/node.js';
import { isAlive } from '../child.js';
import type { SoakReport } from '../results.js';
import { runXdsTrustAttacks } from './xds-trust.js';
import {
  controlPlaneReady,
  discoveryRequest,
  egressGatewayNode,
  EGRESS_CREDENTIAL,
  openRawStream,
  sidecarNode,
  TOKEN_ISSUER,
  type ControlPlaneTarget,
  type RawStream,
} from './controlplane.js';

type Verdict = { ok: boolean; why?: string };

const ANSWER_MS = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withStream(s: RawStream, fn: (s: RawStream) => Promise<Verdict>): Promise<Verdict> {
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

/** The stream must end with one of `codes` before any response. */
async function refusedWith(s: RawStream, codes: grpc.status[]): Promise<Verdict> {
  const end = await Promise.race([s.ended, sleep(ANSWER_MS).then(() => undefined)]);
  if (!end) return { ok: false, why: `stream still open after ${ANSWER_MS} ms with ${s.responses.length} response(s) (a hang)` };
  if (s.responses.length > 0) return { ok: false, why: `the control plane sent ${s.responses.length} response(s) before refusing` };
  if (!codes.includes(end.code))
    return {
      ok: false,
      why: `ended with ${grpc.status[end.code]} (${end.details}), expected ${codes.map((c) => grpc.status[c]).join(' or ')}`,
    };
  return { ok: true, why: `${grpc.status[end.code]}: ${end.details}` };
}

/** After a bad message the stream either ended with an error status or still answers a valid request. */
async function endedOrStillServing(s: RawStream, node: ProxyNode | undefined): Promise<Verdict> {
  const end = await Promise.race([s.ended, sleep(500).then(() => undefined)]);
  if (end)
    return end.code !== grpc.status.OK
      ? { ok: true, why: `${grpc.status[end.code]}: ${end.details}` }
      : { ok: false, why: 'ended with OK after a malformed message' };
  const before = s.responses.length;
  s.send(discoveryRequest(node, TypeUrl.Listener));
  const r = await s.nextResponse(ANSWER_MS);
  if (r && s.responses.length > before) return { ok: true, why: 'ignored; the stream still serves' };
  const end2 = await Promise.race([s.ended, sleep(100).then(() => undefined)]);
  if (end2 && end2.code !== grpc.status.OK) return { ok: true, why: `${grpc.status[end2.code]}: ${end2.details}` };
  return { ok: false, why: 'the stream neither ended nor answered a valid request afterwards (a hang)' };
}

async function runMany(
  n: number,
  kinds: ((i: number) => Promise<Verdict>)[],
  concurrency = 8,
): Promise<{ tried: number; handled: number; failures: string[] }> {
  let next = 0;
  let handled = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const v = await kinds[i % kinds.length]!(i).catch((err: unknown) => ({ ok: false, why: (err as Error).message }));
      if (v.ok) handled++;
      else if (failures.length < 5) failures.push(`#${i} (kind ${i % kinds.length}): ${v.why}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, () => worker()));
  return { tried: n, handled, failures };
}

export interface XdsAttackSizes {
  identity: number;
  malformed: number;
  secrets: number;
  /** Rounds of issue 14's attacks (xds-trust.ts): router role, node-id hijack, debug port. */
  trust: number;
}
export const QUICK_XDS: XdsAttackSizes = { identity: 14, malformed: 20, secrets: 7, trust: 1 };
export const FULL_XDS: XdsAttackSizes = { identity: 140, malformed: 200, secrets: 70, trust: 5 };

export async function runXdsAttacks(
  report: SoakReport,
  cp: ControlPlaneTarget,
  sizes: XdsAttackSizes,
  log: (line: string) => void,
): Promise<void> {
  const node = sidecarNode();
  const token = (): Promise<string> => cp.tokens.mint({ namespace: node.namespace, serviceAccount: node.serviceAccount, ttlSeconds: 600 });
  const foreignIssuer = await TokenIssuer.create(TOKEN_ISSUER);
  const pastIssuer = TokenIssuer.fromPrivateKey(
    TOKEN_ISSUER,
    { privateKeyPem: cp.tokens.privateKeyPem(), publicKeyPem: cp.tokens.publicKeyPem() },
    { now: () => new Date(Date.now() - 3600_000) },
  );
  const otherCa = await createBenchCa('not the mesh CA');
  const foreignCert = await issueBenchLeaf(otherCa, {
    commonName: 'client',
    uris: ['spiffe://cluster.local/ns/default/sa/client'],
    usage: 'client',
  });
  const cds = discoveryRequest(node, TypeUrl.Cluster);
  const refuse = [grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED];

  const identity: ((i: number) => Promise<Verdict>)[] = [
    async () =>
      withStream(openRawStream(cp), async (s) => {
        s.send(cds);
        return refusedWith(s, refuse);
      }),
    async () =>
      withStream(openRawStream(cp, { token: 'not.a.jwt' }), async (s) => {
        s.send(cds);
        return refusedWith(s, refuse);
      }),
    async () =>
      withStream(openRawStream(cp, { token: randomBytes(300).toString('base64url') }), async (s) => {
        s.send(cds);
        return refusedWith(s, refuse);
      }),
    async () =>
      withStream(
        openRawStream(cp, { token: await foreignIssuer.mint({ namespace: 'default', serviceAccount: 'client', ttlSeconds: 600 }) }),
        async (s) => {
          s.send(cds);
          return refusedWith(s, refuse);
        },
      ),
    async () =>
      withStream(
        openRawStream(cp, { token: await pastIssuer.mint({ namespace: 'default', serviceAccount: 'client', ttlSeconds: 60 }) }),
        async (s) => {
          s.send(cds);
          return refusedWith(s, refuse);
        },
      ),
    async () =>
      withStream(
        openRawStream(cp, {
          token: await cp.tokens.mint({ namespace: 'default', serviceAccount: 'client', ttlSeconds: 600, audience: 'not-istio-ca' }),
        }),
        async (s) => {
          s.send(cds);
          return refusedWith(s, refuse);
        },
      ),
    // A certificate from another CA: the TLS layer refuses it (UNAVAILABLE on this side) or the authenticator does.
    async () =>
      withStream(openRawStream(cp, { cert: foreignCert }), async (s) => {
        s.send(cds);
        return refusedWith(s, [...refuse, grpc.status.UNAVAILABLE]);
      }),
    // A valid token for default/client, a node claiming the egress gateway: istiod refuses the mismatch.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(discoveryRequest(egressGatewayNode(), TypeUrl.Cluster));
        return refusedWith(s, refuse);
      }),
  ];

  const malformed: ((i: number) => Promise<Verdict>)[] = [
    // Bytes that are not a DiscoveryRequest at all.
    async (i) =>
      withStream(openRawStream(cp, { token: await token(), raw: true }), async (s) => {
        s.send(randomBytes(1 + ((i * 37) % 2000)));
        return endedOrStillServing(s, node);
      }),
    // The first request without a node.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(discoveryRequest(undefined, TypeUrl.Cluster));
        return refusedWith(s, [grpc.status.INVALID_ARGUMENT]);
      }),
    // A node id that is not Istio's format.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send({ ...cds, node: { id: 'not-a-node-id', metadata: { NAMESPACE: 'default', SERVICE_ACCOUNT: 'client' } } });
        return refusedWith(s, [grpc.status.INVALID_ARGUMENT]);
      }),
    // Metadata of the wrong type.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send({ ...cds, node: { id: node.id, metadata: { NAMESPACE: 42, SERVICE_ACCOUNT: ['client'] } } });
        return refusedWith(s, [grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED]);
      }),
    // No type_url.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(discoveryRequest(node, ''));
        return refusedWith(s, [grpc.status.INVALID_ARGUMENT]);
      }),
    // A type nobody serves, then a valid one on the same stream.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(discoveryRequest(node, 'type.googleapis.com/not.a.Type', ['x']));
        return endedOrStillServing(s, undefined);
      }),
    // A NACK and an ACK for nonces never sent, and a 1 MiB error message.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(cds);
        const first = await s.nextResponse(ANSWER_MS);
        if (!first) return { ok: false, why: 'no CDS response for a valid proxy' };
        s.send({
          ...discoveryRequest(undefined, TypeUrl.Cluster, [], 'nonce-never-sent', 'v-bogus'),
          errorDetail: { code: 3, message: 'x'.repeat(1 << 20) },
        });
        s.send(discoveryRequest(undefined, TypeUrl.Cluster, [], `${first.nonce}9999`, first.versionInfo));
        return endedOrStillServing(s, undefined);
      }),
    // A NACK of a real response carrying a huge error message: recorded, the stream goes on.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(cds);
        const first = await s.nextResponse(ANSWER_MS);
        if (!first) return { ok: false, why: 'no CDS response for a valid proxy' };
        s.send({
          ...discoveryRequest(undefined, TypeUrl.Cluster, [], first.nonce, ''),
          errorDetail: { code: 3, message: `soak NACK ${'y'.repeat(512 * 1024)}` },
        });
        return endedOrStillServing(s, undefined);
      }),
    // A request over gRPC's 4 MiB message limit: refused by the transport.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(
          discoveryRequest(
            node,
            TypeUrl.ClusterLoadAssignment,
            Array.from({ length: 5000 }, (_, k) => `${k}-${'n'.repeat(1000)}`),
          ),
        );
        return refusedWith(s, [grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL, grpc.status.CANCELLED]);
      }),
    // Thousands of distinct names for resources that do not exist: nothing sent, the stream still serves.
    async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(
          discoveryRequest(
            node,
            TypeUrl.ClusterLoadAssignment,
            Array.from({ length: 2000 }, (_, k) => `outbound|${k}||nowhere-${k}.example`),
          ),
        );
        return endedOrStillServing(s, undefined);
      }),
  ];

  const forbidden = [
    `kubernetes://${EGRESS_CREDENTIAL}`,
    `kubernetes://${EGRESS_CREDENTIAL}-cacert`,
    EGRESS_CREDENTIAL,
    `kubernetes://istio-system/${EGRESS_CREDENTIAL}`,
    'kubernetes://../../etc/passwd',
    `kubernetes://${EGRESS_CREDENTIAL}\u0000`,
    `KUBERNETES://${EGRESS_CREDENTIAL}`,
  ];
  const secrets: ((i: number) => Promise<Verdict>)[] = forbidden.map(
    (name) => async () =>
      withStream(openRawStream(cp, { token: await token() }), async (s) => {
        s.send(cds);
        if (!(await s.nextResponse(ANSWER_MS))) return { ok: false, why: 'no CDS response for a valid proxy' };
        s.send(discoveryRequest(undefined, TypeUrl.Secret, [name]));
        await sleep(1500);
        const got = s.responses.filter((r) => r.typeUrl === TypeUrl.Secret && r.resources.length > 0);
        if (got.length > 0) return { ok: false, why: `a default/client sidecar received secret(s) for "${name}"` };
        return { ok: true };
      }),
  );

  // The control: the egress gateway, with its own identity, does get its credential (else the check above proves nothing).
  const control = await withStream(
    openRawStream(cp, {
      token: await cp.tokens.mint({ namespace: 'istio-system', serviceAccount: 'istio-egressgateway-service-account', ttlSeconds: 600 }),
    }),
    async (s) => {
      s.send(discoveryRequest(egressGatewayNode(), TypeUrl.Cluster));
      if (!(await s.nextResponse(ANSWER_MS))) return { ok: false, why: 'the egress gateway got no CDS response' };
      s.send(discoveryRequest(undefined, TypeUrl.Secret, [`kubernetes://${EGRESS_CREDENTIAL}`]));
      for (let k = 0; k < 20; k++) {
        if (s.responses.some((r) => r.typeUrl === TypeUrl.Secret && r.resources.length > 0)) return { ok: true };
        await sleep(250);
      }
      return { ok: false, why: `the egress gateway did not get its own credential kubernetes://${EGRESS_CREDENTIAL}` };
    },
  );

  const families: [string, number, ((i: number) => Promise<Verdict>)[]][] = [
    ['xds: no valid identity', sizes.identity, identity],
    ['xds: malformed request', sizes.malformed, malformed],
    ['xds: secret the proxy may not have', sizes.secrets, secrets],
  ];
  for (const [family, n, kinds] of families) {
    const r = await runMany(n, kinds);
    if (family.includes('secret') && !control.ok) {
      r.handled = 0;
      r.failures.unshift(`control failed, so withholding proves nothing: ${control.why}`);
    }
    if (r.failures.length > 0) log(`${family}: ${r.failures.join('; ')}`);
    report.badInput({ family, tried: r.tried, handled: r.handled });
  }

  await runXdsTrustAttacks(report, cp, sizes.trust, log);

  await report.check(
    'hostile xDS: no crash, leak or hang',
    'after every attack the control plane is alive, ready, and holds no attacker stream',
    async () => {
      if (!isAlive(cp.proc)) throw new Error(`the control plane died: ${cp.proc.output()}`);
      if (!(await controlPlaneReady(cp))) throw new Error('the control plane no longer answers /ready');
      let open = -1;
      for (let k = 0; k < 50; k++) {
        const r = await fetch(`http://${cp.httpAddress}/debug/syncz`, { signal: AbortSignal.timeout(3000) });
        open = ((await r.json()) as { proxies: unknown[] }).proxies.length;
        if (open === 0) break;
        await sleep(200);
      }
      if (open !== 0) throw new Error(`${open} stream(s) still registered 10 s after every attacker closed`);
      return 'alive, /ready 200, 0 streams left';
    },
  );
}
