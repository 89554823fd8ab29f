// Issue 14's attacks on the control plane (its own process), kept in the soak so they stay fixed:
// - a proxy picking its own role: an identity that is not the gateway's (in istio-system or not) claims
//   `router` and asks for the egress gateway's `kubernetes://` credential; it must never arrive (control:
//   the gateway's own identity gets it);
// - node-id hijack: a second identity (token or mesh certificate) reusing a connected or recently
//   disconnected proxy's node id is refused PERMISSION_DENIED, and the owner keeps its stream and its
//   entry in /debug/syncz (control: the owner is served);
// - the debug port: /debug/config_dump of the gateway carries its credential with the key redacted
//   (control: the certificate is there), and a Host that is not an IP literal or localhost is refused
//   (DNS rebinding; control: localhost and 127.0.0.1 are answered); the port is on loopback.
import * as grpc from '@grpc/grpc-js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { createCsr } from '../../src/pki/certificate.js';
import { requestCertificate } from '../../src/pki/ca-service.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import type { ProxySync } from '../../src/controlplane/sync-status.js';
import { isLoopback, listeningSockets } from '../security.js';
import type { SoakReport } from '../results.js';
import { rawHttp } from './http-raw.js';
import { runFamily, sleep, type Verdict } from './family.js';
import {
  discoveryRequest,
  egressGatewayNode,
  EGRESS_CREDENTIAL,
  openRawStream,
  sidecarNode,
  type ControlPlaneTarget,
  type RawStream,
} from './controlplane.js';

const ANSWER_MS = 10_000;
const CREDENTIAL = `kubernetes://${EGRESS_CREDENTIAL}`;
const GATEWAY_SA = 'istio-egressgateway-service-account';

/** "-----BEGIN CERTIFICATE-----" in base64, as a Secret's `inlineBytes` starts. */
const CERT_B64 = Buffer.from('-----BEGIN CERTIFICATE-----').toString('base64').slice(0, 36);

/**
 * Where a dump holds a private key: a PEM key in any string, or in any string that is base64 (Envoy's
 * `inlineBytes`) once decoded, or the body of a key the soak knows. Undefined when none.
 */
export function keyIn(body: string, knownKeyBodies: string[]): string | undefined {
  if (/PRIVATE KEY/.test(body)) return 'a PEM private key';
  if (knownKeyBodies.some((b) => body.includes(b))) return 'a known private key';
  const strings: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  try {
    walk(JSON.parse(body));
  } catch {
    return undefined; // not JSON: the text checks above are all there is
  }
  for (const s of strings)
    if (s.length >= 40 && /^[A-Za-z0-9+/=\s]+$/.test(s) && /PRIVATE KEY/.test(Buffer.from(s, 'base64').toString('latin1')))
      return 'a base64 private key';
  return undefined;
}

function withNodeId(n: Omit<ProxyNode, 'id'>): ProxyNode {
  return { ...n, id: formatNodeId(n) };
}

function gotSecret(s: RawStream): boolean {
  return s.responses.some((r) => r.typeUrl === TypeUrl.Secret && r.resources.length > 0);
}

/** Asks for `names` over SDS after CDS; handled when no Secret with content arrives within 2 s. */
async function secretWithheld(cp: ControlPlaneTarget, token: string, node: ProxyNode, names: string[]): Promise<Verdict> {
  const s = openRawStream(cp, { token });
  try {
    s.send(discoveryRequest(node, TypeUrl.Cluster));
    s.send(discoveryRequest(undefined, TypeUrl.Secret, names));
    await Promise.race([s.ended, sleep(2000)]);
    if (gotSecret(s))
      return { ok: false, why: `${node.namespace}/${node.serviceAccount} as ${node.role} received ${names.join(', ') || 'a wildcard'}` };
    return { ok: true };
  } finally {
    s.close();
  }
}

/** The egress gateway's own identity gets its credential: what makes every refusal above meaningful. */
async function gatewayGetsCredential(cp: ControlPlaneTarget, s: RawStream): Promise<Verdict> {
  s.send(discoveryRequest(egressGatewayNode(), TypeUrl.Cluster));
  if (!(await s.nextResponse(ANSWER_MS))) return { ok: false, why: 'the egress gateway got no CDS response' };
  s.send(discoveryRequest(undefined, TypeUrl.Secret, [CREDENTIAL]));
  for (let k = 0; k < 40 && !gotSecret(s); k++) await sleep(250);
  return gotSecret(s) ? { ok: true } : { ok: false, why: `the egress gateway did not get ${CREDENTIAL}` };
}

async function syncz(cp: ControlPlaneTarget): Promise<ProxySync[]> {
  const r = await fetch(`http://${cp.httpAddress}/debug/syncz`, { signal: AbortSignal.timeout(5000) });
  return ((await r.json()) as { proxies: ProxySync[] }).proxies;
}

export async function runXdsTrustAttacks(
  report: SoakReport,
  cp: ControlPlaneTarget,
  rounds: number,
  log: (line: string) => void,
): Promise<void> {
  const mint = (namespace: string, serviceAccount: string, ttlSeconds = 600): Promise<string> =>
    cp.tokens.mint({ namespace, serviceAccount, ttlSeconds });
  const gw = egressGatewayNode();
  let n = 0;
  const fresh = (): string => `${Date.now().toString(36)}-${n++}`;

  // ---- a proxy picking its own role
  const router = (namespace: string, serviceAccount: string, over: Partial<ProxyNode> = {}): ProxyNode =>
    withNodeId({
      ...gw,
      ips: ['127.0.0.9'],
      podName: `soak-router-${fresh()}`,
      namespace,
      serviceAccount,
      ...over,
    });
  await runFamily(report, log, 'xds: router role claimed without the gateway identity', {
    control: {
      what: "the egress gateway's own identity receives its credential",
      run: async () => {
        const s = openRawStream(cp, { token: await mint(gw.namespace, gw.serviceAccount) });
        try {
          return await gatewayGetsCredential(cp, s);
        } finally {
          s.close();
        }
      },
    },
    rounds,
    variants: [
      {
        what: "istio-system/soak-not-a-gateway as router with the gateway's labels",
        run: async () =>
          secretWithheld(cp, await mint('istio-system', 'soak-not-a-gateway'), router('istio-system', 'soak-not-a-gateway'), [CREDENTIAL]),
      },
      {
        what: 'istio-system/soak-not-a-gateway as router asking for the -cacert half',
        run: async () =>
          secretWithheld(cp, await mint('istio-system', 'soak-not-a-gateway'), router('istio-system', 'soak-not-a-gateway'), [
            `${CREDENTIAL}-cacert`,
          ]),
      },
      {
        what: 'istio-system/soak-not-a-gateway as router with a wildcard SDS subscription',
        run: async () =>
          secretWithheld(cp, await mint('istio-system', 'soak-not-a-gateway'), router('istio-system', 'soak-not-a-gateway'), []),
      },
      {
        what: "istio-system/default as router under the gateway's pod name",
        run: async () =>
          secretWithheld(cp, await mint('istio-system', 'default'), router('istio-system', 'default', { podName: gw.podName }), [
            CREDENTIAL,
          ]),
      },
      {
        what: "default/istio-egressgateway-service-account (the gateway's name, another namespace) as router",
        run: async () =>
          secretWithheld(cp, await mint('default', GATEWAY_SA), router('default', GATEWAY_SA), [
            CREDENTIAL,
            `kubernetes://istio-system/${EGRESS_CREDENTIAL}`,
          ]),
      },
    ],
  });

  // ---- node-id hijack
  /** A victim connected and served; `attack` then runs with the victim's node; the victim must be untouched. */
  const hijack = async (
    attack: (victim: ProxyNode, victimStream: RawStream) => Promise<RawStream>,
    opts: { victimLeaves?: boolean } = {},
  ): Promise<Verdict> => {
    const victim = sidecarNode('default', 'client', `soak-victim-${fresh()}`);
    const vs = openRawStream(cp, { token: await mint('default', 'client') });
    let as: RawStream | undefined;
    try {
      vs.send(discoveryRequest(victim, TypeUrl.Cluster));
      if (!(await vs.nextResponse(ANSWER_MS))) return { ok: false, why: 'the victim itself was not served (control)' };
      if (opts.victimLeaves) {
        vs.close();
        await sleep(300);
      }
      as = await attack(victim, vs);
      const end = await Promise.race([as.ended, sleep(ANSWER_MS).then(() => undefined)]);
      if (!end)
        return { ok: false, why: `the attacker's stream is still open after ${ANSWER_MS} ms with ${as.responses.length} response(s)` };
      if (as.responses.length > 0) return { ok: false, why: `the attacker received ${as.responses.length} response(s)` };
      if (end.code !== grpc.status.PERMISSION_DENIED)
        return { ok: false, why: `the attacker's stream ended ${grpc.status[end.code]} (${end.details}), not PERMISSION_DENIED` };
      if (opts.victimLeaves) return { ok: true };
      const entry = (await syncz(cp)).filter((p) => p.proxy === victim.id);
      if (entry.length !== 1 || entry[0]!.serviceAccount !== 'client')
        return {
          ok: false,
          why: `syncz for ${victim.id}: ${JSON.stringify(entry.map((e) => e.identity))}, expected the victim's identity only`,
        };
      const before = vs.responses.length;
      vs.send(discoveryRequest(undefined, TypeUrl.Listener));
      if (!(await vs.nextResponse(ANSWER_MS)) || vs.responses.length === before)
        return { ok: false, why: 'the victim no longer gets answers on its stream' };
      return { ok: true };
    } finally {
      as?.close();
      vs.close();
    }
  };
  const otherCert = async (): Promise<{ certPem: string; keyPem: string }> => {
    const keys = await generateKeyPair('ec-p256');
    const chain = await requestCertificate({
      address: cp.address,
      rootCertPem: cp.rootCertPem,
      token: await mint('default', 'soak-other'),
      csrPem: await createCsr({ privateKeyPem: keys.privateKeyPem, uris: ['spiffe://cluster.local/ns/default/sa/soak-other'] }),
      ttlSeconds: 3600,
    });
    return { certPem: chain.slice(0, -1).join(''), keyPem: keys.privateKeyPem };
  };
  const cert = await otherCert();
  await runFamily(report, log, 'xds: node id hijack', {
    rounds,
    variants: [
      {
        what: "default/soak-other (token) reusing a connected sidecar's node id",
        run: () =>
          hijack(async (victim) => {
            const s = openRawStream(cp, { token: await mint('default', 'soak-other') });
            s.send(discoveryRequest({ ...victim, serviceAccount: 'soak-other', labels: { app: 'attacker' } }, TypeUrl.Cluster));
            return s;
          }),
      },
      {
        what: "default/soak-other (mesh certificate) reusing a connected sidecar's node id",
        run: () =>
          hijack(async (victim) => {
            const s = openRawStream(cp, { cert });
            s.send(discoveryRequest({ ...victim, serviceAccount: 'soak-other' }, TypeUrl.Listener));
            return s;
          }),
      },
      {
        what: 'default/soak-other taking the node id in the reconnect window after its owner left',
        run: () =>
          hijack(
            async (victim) => {
              const s = openRawStream(cp, { token: await mint('default', 'soak-other') });
              s.send(discoveryRequest({ ...victim, serviceAccount: 'soak-other' }, TypeUrl.Cluster));
              return s;
            },
            { victimLeaves: true },
          ),
      },
      {
        what: "the egress gateway's identity claiming a default sidecar's node id",
        run: () =>
          hijack(async (victim) => {
            const s = openRawStream(cp, { token: await mint(gw.namespace, gw.serviceAccount) });
            s.send(discoveryRequest({ ...victim, serviceAccount: gw.serviceAccount }, TypeUrl.Cluster));
            return s;
          }),
      },
    ],
  });

  // ---- the debug port: keys in /debug/config_dump, DNS rebinding
  const gs = openRawStream(cp, { token: await mint(gw.namespace, gw.serviceAccount) });
  try {
    const served = await gatewayGetsCredential(cp, gs);
    const port = cp.httpAddress.slice(cp.httpAddress.lastIndexOf(':') + 1);
    const dumpPath = `/debug/config_dump?proxyID=${encodeURIComponent(gw.id)}`;
    const keyBodies = cp.secretsToNeverLog
      .map((k) => k.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''))
      .filter((b) => b.length > 40)
      .map((b) => b.slice(0, 40));
    const noKey = async (host: string): Promise<Verdict> => {
      const r = await rawHttp(cp.httpAddress, dumpPath, { headers: { host } });
      if (r.status !== 200) return { ok: false, why: `config_dump with Host ${host} answered ${r.status}: nothing to check` };
      const leak = keyIn(r.body, keyBodies);
      if (leak) return { ok: false, why: `${leak} in /debug/config_dump` };
      if (!r.body.includes('[redacted]')) return { ok: false, why: 'the dump has no "[redacted]" key where the credential is' };
      return { ok: true };
    };
    const refused = (host: string, path: string): Verdict | Promise<Verdict> =>
      rawHttp(cp.httpAddress, path, { headers: { host } }).then((r) =>
        r.status === 403 && r.body.includes('E_HOST_REFUSED')
          ? { ok: true }
          : { ok: false, why: `${path} with Host ${host} answered ${r.status}: ${r.body.slice(0, 120)}` },
      );
    const rebinding = [
      'evil.example',
      `evil.example:${port}`,
      `localhost.evil.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      'EVIL.EXAMPLE',
    ];
    await runFamily(report, log, 'debug: key leak and DNS rebinding', {
      control: {
        what: "the gateway's dump (Host 127.0.0.1 and localhost) holds its credential's certificate",
        run: async () => {
          if (!served.ok) return served;
          for (const host of [cp.httpAddress, `localhost:${port}`]) {
            const r = await rawHttp(cp.httpAddress, dumpPath, { headers: { host } });
            if (r.status !== 200) return { ok: false, why: `Host ${host}: ${r.status} ${r.body.slice(0, 120)}` };
            if (!r.body.includes(CREDENTIAL) || !(r.body.includes('BEGIN CERTIFICATE') || r.body.includes(CERT_B64)))
              return { ok: false, why: `the dump does not hold ${CREDENTIAL} with its certificate, so a missing key proves nothing` };
          }
          return { ok: true };
        },
      },
      rounds,
      variants: [
        { what: 'config_dump by address: no key', run: () => noKey(cp.httpAddress) },
        { what: 'config_dump by localhost: no key', run: () => noKey(`localhost:${port}`) },
        ...rebinding.flatMap((host) =>
          [dumpPath, '/debug/syncz', '/metrics'].map((path) => ({
            what: `${path} with Host ${host}`,
            run: async () => refused(host, path),
          })),
        ),
        {
          what: 'the debug port listens on loopback only',
          run: async () => {
            const socks = listeningSockets(cp.proc.pid).filter((s) => !isLoopback(s.address));
            return socks.length === 0
              ? { ok: true }
              : { ok: false, why: `the control plane listens on ${socks.map((s) => `${s.address}:${s.port}`).join(', ')}` };
          },
        },
      ],
    });
  } finally {
    gs.close();
  }
}
