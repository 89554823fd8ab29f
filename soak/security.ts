// Security defaults, checked on the running parts rather than read from the code: every listening
// socket of an admin or control process is bound to loopback (read from /proc: the process's socket
// inodes matched against /proc/net/tcp{,6}); every file holding a private key is 0600 (or stricter);
// no log holds a private key or a token; the CA refuses every identity the caller cannot prove (and
// still issues to one it can: the control); `npm audit --audit-level=high`.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPair } from '../src/pki/keys.js';
import { createCsr } from '../src/pki/certificate.js';
import { requestCertificate } from '../src/pki/ca-service.js';
import { TokenIssuer } from '../src/pki/workload-token.js';
import { DEFAULT_HTTP_LISTEN, DEFAULT_XDS_LISTEN } from '../src/controlplane/control-plane.js';
import { packageRoot } from '../src/shared/package-root.js';
import type { SoakReport } from './results.js';
import { TOKEN_ISSUER, type ControlPlaneTarget } from './hostile/controlplane.js';
import { runCaPolicyAttacks } from './hostile/ca-policy.js';
import { runLabStateDirAttacks } from './hostile/lab-state-dir.js';

const execFileP = promisify(execFile);

export class SecurityCheckError extends Error {
  readonly code = 'E_SOAK_SECURITY';
}

export interface ListeningSocket {
  address: string;
  port: number;
}

function parseHexAddress(hex: string, v6: boolean): string {
  if (!v6) {
    const n = parseInt(hex, 16);
    // /proc/net/tcp prints the address in host (little-endian) byte order.
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
  }
  const words: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    const w = hex
      .slice(i, i + 8)
      .match(/../g)!
      .reverse()
      .join('');
    words.push(w.slice(0, 4), w.slice(4, 8));
  }
  return words
    .map((w) => w.replace(/^0+(?=.)/, ''))
    .join(':')
    .toLowerCase();
}

/** The TCP sockets process `pid` listens on (its own descriptors, in its own network namespace). */
export function listeningSockets(pid: number): ListeningSocket[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the descriptor closed between readdir and readlink: it is not a listening socket we must check
    }
  }
  const out: ListeningSocket[] = [];
  for (const [file, v6] of [
    ['tcp', false],
    ['tcp6', true],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel or namespace
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      const [addr, port] = f[1]!.split(':') as [string, string];
      out.push({ address: parseHexAddress(addr, v6), port: parseInt(port, 16) });
    }
  }
  return out;
}

export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./.test(address);
}

/** Every file under `dirs` whose content holds a PEM private key, with its mode. */
export function privateKeyFiles(dirs: string[]): { file: string; mode: number }[] {
  const out: { file: string; mode: number }[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 8) return;
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return; // gone or unreadable: nothing to check there
    }
    for (const e of entries) {
      const p = path.join(d, e);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue; // removed while walking
      }
      if (st.isDirectory()) walk(p, depth + 1);
      else if (st.isFile() && st.size < 4 << 20) {
        const text = readFileSync(p, 'utf8');
        if (
          /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) ||
          (/\b(tls\.key|key|ca-key\.pem)\s*:/.test(text) && /LS0tLS1CRUdJTi[A-Za-z0-9+/=]*/.test(text))
        )
          out.push({ file: p, mode: st.mode & 0o777 });
      }
    }
  };
  for (const d of dirs) walk(d, 0);
  return out;
}

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

/** Lines of `files` that hold a private key (PEM, base64 PEM, or one of `secrets`) or a JWT. */
export function secretsInLogs(files: string[], secrets: string[]): string[] {
  const bodies = secrets
    .map((s) => s.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''))
    .filter((b) => b.length > 40)
    .map((b) => b.slice(0, 40));
  const found: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue; // a process that never started has no log
    }
    text.split('\n').forEach((line, i) => {
      if (
        /PRIVATE KEY/.test(line) ||
        /LS0tLS1CRUdJTiBQUklWQVRFIEtFWS|LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS/.test(line) ||
        JWT.test(line) ||
        bodies.some((b) => line.includes(b))
      )
        found.push(`${f}:${i + 1}`);
    });
  }
  return found;
}

export function logFilesUnder(dir: string): string[] {
  const out: string[] = [];
  try {
    for (const e of readdirSync(dir)) if (e.endsWith('.log')) out.push(path.join(dir, e));
  } catch {
    // no logs folder: nothing to scan
  }
  return out;
}

/** The CA must refuse every identity the caller cannot prove, and issue to one it can. */
export async function caRefusals(cp: ControlPlaneTarget): Promise<{ tried: number; handled: number; failures: string[]; control: string }> {
  const keys = await generateKeyPair('ec-p256');
  const own = 'spiffe://cluster.local/ns/default/sa/client';
  const other = 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account';
  const csrOwn = await createCsr({ privateKeyPem: keys.privateKeyPem, uris: [own] });
  const csrOther = await createCsr({ privateKeyPem: keys.privateKeyPem, uris: [other] });
  const csrBoth = await createCsr({ privateKeyPem: keys.privateKeyPem, uris: [own, other] });
  const good = await cp.tokens.mint({ namespace: 'default', serviceAccount: 'client', ttlSeconds: 600 });
  const foreign = await (await TokenIssuer.create(TOKEN_ISSUER)).mint({ namespace: 'default', serviceAccount: 'client', ttlSeconds: 600 });
  const expired = await TokenIssuer.fromPrivateKey(
    TOKEN_ISSUER,
    { privateKeyPem: cp.tokens.privateKeyPem(), publicKeyPem: cp.tokens.publicKeyPem() },
    { now: () => new Date(Date.now() - 7200_000) },
  ).mint({ namespace: 'default', serviceAccount: 'client', ttlSeconds: 60 });
  const wrongIssuer = await TokenIssuer.fromPrivateKey('https://elsewhere.example', {
    privateKeyPem: cp.tokens.privateKeyPem(),
    publicKeyPem: cp.tokens.publicKeyPem(),
  }).mint({ namespace: 'default', serviceAccount: 'client', ttlSeconds: 600 });
  const base = { address: cp.address, rootCertPem: cp.rootCertPem, ttlSeconds: 3600, timeoutMs: 10_000 };
  const cases: [string, Parameters<typeof requestCertificate>[0]][] = [
    ['no token', { ...base, token: '', csrPem: csrOwn }],
    ['garbage token', { ...base, token: 'x.y.z', csrPem: csrOwn }],
    ['token signed by an unknown key', { ...base, token: foreign, csrPem: csrOwn }],
    ['expired token', { ...base, token: expired, csrPem: csrOwn }],
    ['token from another issuer', { ...base, token: wrongIssuer, csrPem: csrOwn }],
    ["a valid token asking for another service account's identity", { ...base, token: good, csrPem: csrOther }],
    ['a valid token asking for its own and another identity', { ...base, token: good, csrPem: csrBoth }],
    ['impersonation metadata', { ...base, token: good, csrPem: csrOther, metadata: { ImpersonatedIdentity: other } }],
    [
      'a CSR that is not a CSR',
      { ...base, token: good, csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' },
    ],
  ];
  let handled = 0;
  const failures: string[] = [];
  for (const [what, opts] of cases) {
    try {
      await requestCertificate(opts);
      failures.push(`${what}: the CA issued a certificate`);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'E_CA_UNAUTHORIZED' || code === 'E_CA_UNAVAILABLE') handled++;
      else failures.push(`${what}: failed oddly: ${(err as Error).message}`);
    }
  }
  const chain = await requestCertificate({ ...base, token: good, csrPem: csrOwn });
  return { tried: cases.length, handled, failures, control: `issued ${chain.length}-certificate chain for ${own} to its own token` };
}

/** `npm audit`'s verdict, or skipped (with the reason) when the registry could not answer it: never passed unrun. */
export async function npmAudit(env: NodeJS.ProcessEnv = process.env): Promise<{ status: 'passed' | 'failed' | 'skipped'; detail: string }> {
  try {
    const { stdout } = await execFileP('npm', ['audit', '--audit-level=high', '--json'], {
      cwd: packageRoot(),
      env,
      timeout: 90_000,
      maxBuffer: 32 << 20,
    }).catch((err: { stdout?: string; message: string }) => {
      // npm audit exits 1 when it finds vulnerabilities at the level; its JSON is still on stdout.
      if (err.stdout) return { stdout: err.stdout };
      throw err;
    });
    const j = JSON.parse(stdout) as {
      metadata?: { vulnerabilities?: Record<string, number> };
      message?: string;
      error?: { code?: string; summary?: string };
    };
    if (j.error) {
      const why = [j.message, j.error.code, j.error.summary].filter((s) => s).join('; ') || 'no reason given';
      return {
        status: 'skipped',
        detail: `not run: the registry did not answer the audit (${why}); run npm audit where the registry is reachable`,
      };
    }
    const v = j.metadata?.vulnerabilities ?? {};
    const high = (v.high ?? 0) + (v.critical ?? 0);
    const summary = Object.entries(v)
      .filter(([k]) => k !== 'total')
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    return {
      status: high === 0 ? 'passed' : 'failed',
      detail: `${high === 0 ? 'clean at high severity' : `${high} high/critical`}: ${summary}`,
    };
  } catch (err) {
    return {
      status: 'skipped',
      detail: `not run: npm audit failed to run (${(err as Error).message.split('\n')[0]}); it needs the registry`,
    };
  }
}

export interface SecurityTargets {
  cp?: ControlPlaneTarget;
  /** Processes whose every listening socket must be on loopback, with a name for messages. */
  processes: { name: string; pid: number }[];
  /** Folders whose private-key files must be 0600. */
  keyDirs: string[];
  /** Log files that must hold no key or token. */
  logs: string[];
  secrets: string[];
}

export async function runSecurityChecks(report: SoakReport, t: SecurityTargets, log: (line: string) => void, rounds = 1): Promise<void> {
  await report.check(
    'security: admin and control ports bound to loopback',
    'every listening socket of every proxy and control-plane process is on 127.0.0.0/8 or ::1',
    async () => {
      if (t.processes.length === 0) throw new SecurityCheckError('no process to check');
      // The control plane's defaults, used when no address is given: loopback, as istiod's debug port is.
      for (const d of [DEFAULT_XDS_LISTEN, DEFAULT_HTTP_LISTEN])
        if (!isLoopback(d.slice(0, d.lastIndexOf(':'))))
          throw new SecurityCheckError(`the control plane's default listen address ${d} is not loopback`);
      const seen: string[] = [`control-plane defaults ${DEFAULT_XDS_LISTEN}, ${DEFAULT_HTTP_LISTEN}`];
      for (const p of t.processes) {
        const socks = listeningSockets(p.pid);
        const open = socks.filter((s) => !isLoopback(s.address));
        if (open.length > 0)
          throw new SecurityCheckError(`${p.name} (pid ${p.pid}) listens on ${open.map((s) => `${s.address}:${s.port}`).join(', ')}`);
        seen.push(`${p.name}: ${socks.map((s) => `${s.address}:${s.port}`).join(' ')}`);
      }
      return seen.join('; ');
    },
  );
  await report.check(
    'security: private key files are 0600',
    'every file holding a private key (mesh CA, credentials, Secrets) is readable by its owner only',
    async () => {
      const files = privateKeyFiles(t.keyDirs);
      if (files.length === 0) throw new SecurityCheckError(`no private key file found under ${t.keyDirs.join(', ')}: nothing was checked`);
      const loose = files.filter((f) => (f.mode & 0o077) !== 0);
      if (loose.length > 0) throw new SecurityCheckError(loose.map((f) => `${f.file} is ${f.mode.toString(8)}`).join(', '));
      return `${files.length} key file(s), all 0600 or stricter`;
    },
  );
  await report.check(
    'security: no private key or token in logs',
    'no log line holds a PEM or base64 private key, a known key, or a JWT',
    async () => {
      if (t.logs.length === 0) throw new SecurityCheckError('no log file to scan');
      const found = secretsInLogs(t.logs, t.secrets);
      if (found.length > 0) throw new SecurityCheckError(`secret material at ${found.slice(0, 5).join(', ')}`);
      return `${t.logs.length} log file(s) scanned, none`;
    },
  );
  if (t.cp) {
    const cp = t.cp;
    let control = '';
    await report.check(
      'security: the CA refuses unprovable identities',
      'no certificate without a valid token for exactly the identity asked; a valid request still succeeds',
      async () => {
        const r = await caRefusals(cp);
        report.badInput({ family: 'ca: identity the caller cannot prove', tried: r.tried, handled: r.handled });
        control = r.control;
        if (r.failures.length > 0) throw new SecurityCheckError(r.failures.join('; '));
        return `${r.handled}/${r.tried} refused; control: ${control}`;
      },
    );
  }
  // Issue 14: the CA's key and lifetime policy, and a planted lab state dir (hostile families with controls).
  if (t.cp) await runCaPolicyAttacks(report, t.cp, rounds, log);
  await runLabStateDirAttacks(report, rounds, log);
  const audit = await npmAudit();
  log(`npm audit: ${audit.detail}`);
  const name = 'security: npm audit --audit-level=high';
  const expectation = 'no high or critical advisory in the dependency tree (needs the registry)';
  if (audit.status === 'skipped') report.skip(name, expectation, audit.detail);
  else report.fault({ name, expectation, passed: audit.status === 'passed', detail: audit.detail });
}
