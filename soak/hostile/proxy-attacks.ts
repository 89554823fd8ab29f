// Issue 14's attacks on the proxy, kept in the soak so they stay fixed. Against a real Proxy with its
// admin in a process of its own (proxy-target.ts):
// - admin: a mutating route (POST /drain_listeners, /runtime_modify) asked with a foreign Host (DNS
//   rebinding) or a foreign Origin (CSRF) is refused 403 and changes nothing (the listeners still serve,
//   the runtime is unchanged); reads with a foreign Host are refused too; admin binds loopback only and
//   refuses to start on 0.0.0.0 (control: the same POST from 127.0.0.1 without or with its own Origin works);
// - admin's /config_dump shows a Listener's and a Cluster's inline credential with the key redacted
//   (control: the certificates are there);
// - connections past a listener's cap or the global cap are closed at once, never echoed, and counted
//   in the overflow metrics, while the held ones still echo (control: under the caps every connection
//   echoes, and the caps free up when connections close).
// In process (what the xDS client NACKs): SAN matchers or a CRL without a trusted CA are refused and the
// running listeners and clusters stay (control: the same with a trusted CA applies).
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBenchCa, issueBenchLeaf } from '../../bench/certs.js';
import { ProcessGroup, type BenchProcess } from '../../bench/processes.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { startAdmin } from '../../src/proxy/admin.js';
import { TypeUrl, type Cluster, type Listener, type TransportSocket } from '../../src/envoy/envoy-types.js';
import { isAlive, soakScript, startJsonReady } from '../child.js';
import { isLoopback, listeningSockets } from '../security.js';
import type { SoakReport } from '../results.js';
import { rawHttp } from './http-raw.js';
import { runFamily, sleep, type Verdict, type Variant } from './family.js';
import { keyIn } from './xds-trust.js';
import {
  CAPPED_LISTENER,
  INLINE_TLS_CLUSTER,
  INLINE_TLS_LISTENER,
  OPEN_LISTENER,
  type ProxyTargetConfig,
  type ProxyTargetReady,
} from './proxy-target-config.js';

const LISTENER_CAP = 5;
const GLOBAL_CAP = 12;

interface ProxyTarget extends ProxyTargetReady {
  proc: BenchProcess;
  keyPem: string;
  stop(): Promise<void>;
}

async function startProxyTarget(): Promise<ProxyTarget> {
  const ca = await createBenchCa('soak proxy target');
  const leaf = await issueBenchLeaf(ca, { commonName: 'soak.example', dns: ['soak.example'], usage: 'server' });
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-soak-proxy-'));
  const cfg: ProxyTargetConfig = {
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
    caPem: ca.certPem,
    listenerCap: LISTENER_CAP,
    globalCap: GLOBAL_CAP,
  };
  const cfgFile = path.join(dir, 'target.json');
  await writeFile(cfgFile, JSON.stringify(cfg), { mode: 0o600 });
  const group = new ProcessGroup();
  try {
    const { proc, ready } = await startJsonReady<ProxyTargetReady>(group, 'proxy target', [...soakScript('hostile/proxy-target'), cfgFile]);
    return {
      ...ready,
      proc,
      keyPem: leaf.keyPem,
      async stop(): Promise<void> {
        await group.stopAll();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await group.stopAll();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A connection through the proxy that echoed a probe: held until closed. */
async function echoed(port: number, timeoutMs = 3000): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const probe = Buffer.from(`soak-${port}-${Math.random()}`);
    let got = Buffer.alloc(0);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      if (!ok) s.destroy();
      resolve(ok ? s : undefined);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('error', () => done(false));
    s.on('close', () => done(false));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= probe.length) done(got.equals(probe));
    });
    s.once('connect', () => s.write(probe));
  });
}

/** A connection the proxy must refuse: closed or reset within `ms`, nothing echoed. */
function refusedConnection(port: number, ms = 3000): Promise<Verdict> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let received = 0;
    const finish = (v: Verdict): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish({ ok: false, why: `a connection past the cap stayed open ${ms} ms` }), ms);
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => finish(received === 0 ? { ok: true } : { ok: false, why: `${received} bytes echoed past the cap` }));
    s.on('close', () => finish(received === 0 ? { ok: true } : { ok: false, why: `${received} bytes echoed past the cap` }));
    s.once('connect', () => s.write('past the cap'));
  });
}

async function metric(t: ProxyTarget, name: string, label?: string): Promise<number> {
  const r = await rawHttp(t.adminAddress, '/stats/prometheus', { headers: { host: t.adminAddress } });
  const line = r.body.split('\n').find((l) => l.startsWith(name) && (label === undefined || l.includes(label)) && !l.startsWith('#'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function closeAll(t: ProxyTarget, socks: net.Socket[]): Promise<void> {
  for (const s of socks) s.destroy();
  for (let k = 0; k < 50; k++) {
    if ((await metric(t, 'meshgate_proxy_global_downstream_connections ')) === 0) return;
    await sleep(100);
  }
}

async function hold(port: number, n: number): Promise<net.Socket[] | string> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await echoed(port);
    if (!s) {
      for (const x of socks) x.destroy();
      return `connection ${i + 1} of ${n} under the cap did not echo`;
    }
    socks.push(s);
  }
  return socks;
}

export async function runProxyAttacks(report: SoakReport, rounds: number, log: (line: string) => void): Promise<void> {
  await sanWithoutCa(report, rounds, log);
  let t: ProxyTarget;
  try {
    t = await startProxyTarget();
  } catch (err) {
    await report.check('proxy target starts', 'a Proxy with its admin starts in its own process', () => Promise.reject(err));
    return;
  }
  try {
    await adminAttacks(report, t, rounds, log);
    await inlineKeys(report, t, rounds, log);
    await connectionCaps(report, t, rounds, log);
    await report.check(
      'hostile proxy: no crash or hang',
      'after every attack the proxy process is alive and its listeners still echo',
      async () => {
        if (!isAlive(t.proc)) throw new Error(`the proxy target died: ${t.proc.output().slice(-300)}`);
        const s = await echoed(t.openPort);
        if (!s) throw new Error('the open listener no longer echoes');
        s.destroy();
        return 'alive, the open listener echoes';
      },
    );
  } finally {
    await t.stop();
  }
}

async function adminAttacks(report: SoakReport, t: ProxyTarget, rounds: number, log: (line: string) => void): Promise<void> {
  const own = t.adminAddress;
  const port = own.slice(own.lastIndexOf(':') + 1);
  const runtimeKey = `envoy.resource_limits.listener.${OPEN_LISTENER}.connection_limit`;
  /** Nothing the refused request asked for happened: listeners all there and echoing, the runtime unchanged. */
  const unchanged = async (): Promise<string | undefined> => {
    const l = await rawHttp(own, '/listeners', { headers: { host: own } });
    for (const name of [CAPPED_LISTENER, OPEN_LISTENER, INLINE_TLS_LISTENER]) if (!l.body.includes(name)) return `listener ${name} is gone`;
    const rt = await rawHttp(own, '/runtime', { headers: { host: own } });
    if (rt.body.includes(`"${OPEN_LISTENER}"`)) return `the runtime now caps ${OPEN_LISTENER}: ${rt.body.slice(0, 200)}`;
    const s = await echoed(t.openPort);
    if (!s) return 'the open listener no longer echoes (drained?)';
    s.destroy();
    return undefined;
  };
  const refused = (method: string, p: string, headers: Record<string, string>) => async (): Promise<Verdict> => {
    const r = await rawHttp(own, p, { method, headers });
    if (r.status !== 403)
      return { ok: false, why: `${method} ${p} ${JSON.stringify(headers)} answered ${r.status}: ${r.body.slice(0, 120)}` };
    const why = await unchanged();
    return why ? { ok: false, why: `403, but ${why}` } : { ok: true };
  };
  const modify = `/runtime_modify?${runtimeKey}=0`;
  const variants: Variant[] = [
    { what: 'POST /drain_listeners, Host evil.example', run: refused('POST', '/drain_listeners', { host: `evil.example:${port}` }) },
    {
      what: 'POST /drain_listeners, Origin http://evil.example',
      run: refused('POST', '/drain_listeners', { host: own, origin: 'http://evil.example' }),
    },
    { what: 'POST /drain_listeners, Origin null', run: refused('POST', '/drain_listeners', { host: own, origin: 'null' }) },
    { what: 'POST /drain_listeners, Host 10.0.0.1 (not loopback)', run: refused('POST', '/drain_listeners', { host: `10.0.0.1:${port}` }) },
    { what: 'POST /runtime_modify, Host localhost.evil.example', run: refused('POST', modify, { host: `localhost.evil.example:${port}` }) },
    {
      what: 'POST /runtime_modify, Origin that only starts like its own',
      run: refused('POST', modify, { host: own, origin: `http://${own}.evil.example` }),
    },
    {
      what: 'POST /runtime_modify, Origin https://evil.example',
      run: refused('POST', modify, { host: own, origin: 'https://evil.example' }),
    },
    { what: 'GET /config_dump, Host evil.example', run: refused('GET', '/config_dump', { host: 'evil.example' }) },
    { what: 'GET /runtime, Host evil.example', run: refused('GET', '/runtime', { host: `evil.example:${port}` }) },
    {
      what: 'admin refuses to listen on 0.0.0.0',
      run: async () => {
        const p = new Proxy({ log: () => undefined });
        try {
          const a = await startAdmin(p, { address: '0.0.0.0', port: 0 });
          await a.close();
          return { ok: false, why: 'startAdmin listened on 0.0.0.0' };
        } catch (err) {
          return (err as { code?: string }).code === 'E_ADMIN' || /loopback/.test((err as Error).message)
            ? { ok: true }
            : { ok: false, why: `failed oddly: ${(err as Error).message}` };
        } finally {
          await p.close(0);
        }
      },
    },
    {
      what: "the proxy process's admin listens on loopback only",
      run: async () => {
        const open = listeningSockets(t.pid).filter((s) => !isLoopback(s.address));
        return open.length === 0 ? { ok: true } : { ok: false, why: `listens on ${open.map((s) => `${s.address}:${s.port}`).join(', ')}` };
      },
    },
  ];
  await runFamily(report, log, 'admin: foreign Host/Origin on mutating routes', {
    control: {
      what: 'POST /runtime_modify from 127.0.0.1, without and with its own Origin, applies',
      run: async () => {
        const key = 'envoy.resource_limits.listener.soak_noop.connection_limit';
        for (const headers of [{ host: own }, { host: own, origin: `http://${own}` }] as Record<string, string>[]) {
          const r = await rawHttp(own, `/runtime_modify?${key}=7`, { method: 'POST', headers });
          if (r.status !== 200) return { ok: false, why: `${JSON.stringify(headers)}: ${r.status} ${r.body.slice(0, 120)}` };
          const rt = await rawHttp(own, '/runtime', { headers: { host: own } });
          if (!rt.body.includes('"soak_noop": 7'))
            return { ok: false, why: `the runtime does not show the change: ${rt.body.slice(0, 200)}` };
          await rawHttp(own, `/runtime_modify?${key}=`, { method: 'POST', headers: { host: own } });
        }
        return { ok: true };
      },
    },
    rounds,
    variants,
  });
}

async function inlineKeys(report: SoakReport, t: ProxyTarget, rounds: number, log: (line: string) => void): Promise<void> {
  const body = t.keyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const known = [body.slice(0, 40), body.slice(-40)];
  const noKey = (p: string) => async (): Promise<Verdict> => {
    const r = await rawHttp(t.adminAddress, p, { headers: { host: t.adminAddress } });
    if (r.status !== 200) return { ok: false, why: `${p} answered ${r.status}` };
    const leak = keyIn(r.body, known);
    if (leak) return { ok: false, why: `${leak} in ${p}` };
    return r.body.includes('[redacted]') ? { ok: true } : { ok: false, why: `${p} has no "[redacted]" where the inline keys are` };
  };
  await runFamily(report, log, 'admin: inline keys in Listener/Cluster dumps', {
    control: {
      what: 'the dump holds the inline Listener and Cluster with their certificates',
      run: async () => {
        const r = await rawHttp(t.adminAddress, '/config_dump', { headers: { host: t.adminAddress } });
        for (const name of [INLINE_TLS_LISTENER, INLINE_TLS_CLUSTER])
          if (!r.body.includes(name)) return { ok: false, why: `${name} is not in the dump` };
        return r.body.includes('BEGIN CERTIFICATE')
          ? { ok: true }
          : { ok: false, why: 'no certificate in the dump, so a missing key proves nothing' };
      },
    },
    rounds,
    variants: [
      { what: 'GET /config_dump', run: noKey('/config_dump') },
      { what: 'GET /config_dump?include_eds', run: noKey('/config_dump?include_eds') },
    ],
  });
}

async function connectionCaps(report: SoakReport, t: ProxyTarget, rounds: number, log: (line: string) => void): Promise<void> {
  const listenerOverflow = (): Promise<number> => metric(t, 'meshgate_proxy_downstream_cx_overflow_total', `listener="${CAPPED_LISTENER}"`);
  const globalOverflow = (): Promise<number> =>
    metric(t, 'meshgate_proxy_downstream_global_cx_overflow_total', `listener="${OPEN_LISTENER}"`);
  /** Holds `capped` + `open` connections, then runs `past` refused ones on `port`; checks the counter moved by that many. */
  const pastCap = async (capped: number, open: number, port: number, past: number, counter: () => Promise<number>): Promise<Verdict> => {
    const held: net.Socket[] = [];
    try {
      for (const [p, n] of [
        [t.cappedPort, capped],
        [t.openPort, open],
      ] as const) {
        const h = await hold(p, n);
        if (typeof h === 'string') return { ok: false, why: h };
        held.push(...h);
      }
      const before = await counter();
      const verdicts = await Promise.all(Array.from({ length: past }, () => refusedConnection(port)));
      const bad = verdicts.find((v) => !v.ok);
      if (bad) return bad;
      const counted = (await counter()) - before;
      if (counted !== past) return { ok: false, why: `${past} refused, the overflow counter moved by ${counted}` };
      for (const s of held) {
        const probe = Buffer.from('still here');
        const back = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 3000);
          s.once('data', (d: Buffer) => {
            clearTimeout(timer);
            resolve(d.equals(probe));
          });
          s.write(probe);
        });
        if (!back) return { ok: false, why: 'a held connection stopped echoing after the refusals' };
      }
      return { ok: true };
    } finally {
      await closeAll(t, held);
    }
  };
  await runFamily(report, log, 'proxy: connections past the cap', {
    control: {
      what: `${GLOBAL_CAP} connections under the caps echo, and the caps free up when they close`,
      run: async () => {
        for (let k = 0; k < 2; k++) {
          const held: net.Socket[] = [];
          for (const [p, n] of [
            [t.cappedPort, LISTENER_CAP],
            [t.openPort, GLOBAL_CAP - LISTENER_CAP],
          ] as const) {
            const h = await hold(p, n);
            if (typeof h === 'string') {
              await closeAll(t, held);
              return { ok: false, why: `${k === 0 ? '' : 'after closing: '}${h}` };
            }
            held.push(...h);
          }
          await closeAll(t, held);
        }
        return { ok: true };
      },
    },
    rounds,
    variants: [
      {
        what: `connection ${LISTENER_CAP + 1} on a listener capped at ${LISTENER_CAP}`,
        run: () => pastCap(LISTENER_CAP, 0, t.cappedPort, 1, listenerOverflow),
      },
      { what: `a burst of 20 past the listener cap`, run: () => pastCap(LISTENER_CAP, 0, t.cappedPort, 20, listenerOverflow) },
      {
        what: `connection ${GLOBAL_CAP + 1} past the global cap, on the uncapped listener`,
        run: () => pastCap(LISTENER_CAP, GLOBAL_CAP - LISTENER_CAP, t.openPort, 1, globalOverflow),
      },
      {
        what: 'a burst of 20 past the global cap',
        run: () => pastCap(LISTENER_CAP, GLOBAL_CAP - LISTENER_CAP, t.openPort, 20, globalOverflow),
      },
    ],
  });
}

async function sanWithoutCa(report: SoakReport, rounds: number, log: (line: string) => void): Promise<void> {
  const ca = await createBenchCa('soak san');
  const leaf = await issueBenchLeaf(ca, { commonName: 'soak.example', dns: ['soak.example'], usage: 'server' });
  const cert = [{ certificateChain: { inlineString: leaf.certPem }, privateKey: { inlineString: leaf.keyPem } }];
  const trusted = { trustedCa: { inlineString: ca.certPem } };
  const typed = {
    matchTypedSubjectAltNames: [{ sanType: 'URI' as const, matcher: { exact: 'spiffe://cluster.local/ns/default/sa/client' } }],
  };
  const untyped = { matchSubjectAltNames: [{ exact: 'soak.example' }] };
  const crl = { crl: { inlineString: ca.certPem } };
  const down = (validationContext: object): TransportSocket => ({
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': TypeUrl.DownstreamTlsContext,
      requireClientCertificate: true,
      commonTlsContext: { tlsCertificates: cert, validationContext },
    },
  });
  const up = (validationContext: object): TransportSocket => ({
    name: 'envoy.transport_sockets.tls',
    typedConfig: { '@type': TypeUrl.UpstreamTlsContext, sni: 'soak.example', commonTlsContext: { validationContext } },
  });
  const cluster = (name: string, ts?: TransportSocket): Cluster => ({
    name,
    type: 'STATIC',
    connectTimeout: '1s',
    loadAssignment: {
      clusterName: name,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 9 } } } }] }],
    },
    ...(ts ? { transportSocket: ts } : {}),
  });
  const listener = (name: string, ts: TransportSocket): Listener => ({
    name,
    address: { socketAddress: { address: '127.0.0.1', portValue: 0 } },
    filterChains: [
      {
        transportSocket: ts,
        filters: [
          { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: name, cluster: 'base' } },
        ],
      },
    ],
  });
  const proxy = new Proxy({ log: () => undefined });
  try {
    proxy.applyClusters([cluster('base')], 'soak');
    await proxy.applyListeners([listener('good', down(trusted))], 'soak');
    const state = (): string => JSON.stringify([proxy.listenerNames(), proxy.clusterStatus().map((c) => c.name)]);
    const baseline = state();
    const nack = (what: string, apply: () => Promise<unknown>): Variant => ({
      what,
      run: async () => {
        try {
          await apply();
          return { ok: false, why: 'applied' };
        } catch (err) {
          const m = (err as Error).message;
          if (!/without a trusted CA/.test(m)) return { ok: false, why: `refused for another reason: ${m}` };
          return state() === baseline ? { ok: true } : { ok: false, why: `the running config changed: ${state()}` };
        }
      },
    });
    const withListener = (vc: object) => () => proxy.applyListeners([listener('good', down(trusted)), listener('bad', down(vc))], 'soak');
    const withCluster = (vc: object) => async () => proxy.applyClusters([cluster('base'), cluster('bad', up(vc))], 'soak');
    await runFamily(report, log, 'proxy: SAN matchers without a trusted CA', {
      control: {
        what: 'the same listener and cluster with a trusted CA apply',
        run: async () => {
          await proxy.applyListeners([listener('good', down(trusted)), listener('ctl', down({ ...trusted, ...typed }))], 'soak');
          proxy.applyClusters([cluster('base'), cluster('ctl', up({ ...trusted, ...typed }))], 'soak');
          const ok = proxy.listenerNames().includes('ctl') && proxy.clusterStatus().some((c) => c.name === 'ctl');
          await proxy.applyListeners([listener('good', down(trusted))], 'soak');
          proxy.applyClusters([cluster('base')], 'soak');
          return ok ? { ok: true } : { ok: false, why: `with a CA the listener and cluster were not applied: ${state()}` };
        },
      },
      rounds,
      variants: [
        nack('listener: typed SAN matchers, no CA', withListener(typed)),
        nack('listener: untyped SAN matchers, no CA', withListener(untyped)),
        nack('listener: a CRL, no CA', withListener(crl)),
        nack('cluster: typed SAN matchers, no CA', withCluster(typed)),
        nack('cluster: untyped SAN matchers, no CA', withCluster(untyped)),
      ],
    });
  } finally {
    await proxy.close(0);
  }
}
