// Shared by the pki tests: temp dirs, the repo root, and `openssl` as an independent second opinion
// on every certificate the tests produce.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import type { CertificateInfo } from '../../src/pki/certificate.js';
import { repoRoot } from '../repo-root.js';

/** Whether this file runs compiled (dist/test/...) rather than through tsx. */
export function runningCompiled(): boolean {
  return fileURLToPath(import.meta.url).endsWith('.js');
}

export function tempDir(t: { after(fn: () => void): void }, prefix = 'meshgate-pki-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const haveOpenssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
export const opensslSkip = haveOpenssl ? false : 'openssl is not installed (apt-get install openssl)';

export function openssl(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input, timeout: 20_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const KU: Record<string, string> = {
  'Digital Signature': 'digitalSignature',
  'Non Repudiation': 'nonRepudiation',
  'Key Encipherment': 'keyEncipherment',
  'Data Encipherment': 'dataEncipherment',
  'Key Agreement': 'keyAgreement',
  'Certificate Sign': 'keyCertSign',
  'CRL Sign': 'cRLSign',
};
const EKU: Record<string, string> = { 'TLS Web Server Authentication': 'serverAuth', 'TLS Web Client Authentication': 'clientAuth' };

function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = (head ?? '').split(':').filter(Boolean);
  const tl = tail === undefined ? [] : tail.split(':').filter(Boolean);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

/** What `openssl x509 -text` says about a certificate, in CertificateInfo's terms. */
export function opensslView(
  pem: string,
): Omit<CertificateInfo, 'publicKeyPem' | 'pem' | 'selfIssued' | 'subjectKeyId' | 'authorityKeyId' | 'publicKeyAlgorithm' | 'pathLength'> {
  const out = execFileSync(
    'openssl',
    ['x509', '-noout', '-subject', '-issuer', '-serial', '-startdate', '-enddate', '-fingerprint', '-sha256', '-text'],
    { input: pem, encoding: 'utf8' },
  );
  const line = (prefix: string): string => {
    const l = out.split('\n').find((x) => x.startsWith(prefix));
    if (l === undefined) throw new Error(`openssl output has no ${prefix}: ${out}`);
    return l.slice(prefix.length).trim();
  };
  const after = (header: string): string | undefined => {
    const lines = out.split('\n');
    const i = lines.findIndex((l) => l.trim().startsWith(header));
    return i < 0 ? undefined : (lines[i + 1] ?? '').trim();
  };
  const san = after('X509v3 Subject Alternative Name') ?? '';
  const sans = san ? san.split(', ') : [];
  const bc = after('X509v3 Basic Constraints') ?? '';
  return {
    subject: line('subject=').replace(/ = /g, '='),
    issuer: line('issuer=').replace(/ = /g, '='),
    serialHex: line('serial='),
    notBefore: new Date(line('notBefore=')),
    notAfter: new Date(line('notAfter=')),
    fingerprintSha256: line('sha256 Fingerprint='),
    dns: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    uris: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
    ips: sans.filter((s) => s.startsWith('IP Address:')).map((s) => canonicalIp(s.slice(11))),
    isCa: bc.startsWith('CA:TRUE'),
    keyUsage: (after('X509v3 Key Usage') ?? '')
      .split(', ')
      .filter(Boolean)
      .map((k) => KU[k] ?? k),
    extKeyUsage: (after('X509v3 Extended Key Usage') ?? '')
      .split(', ')
      .filter(Boolean)
      .map((k) => EKU[k] ?? k),
  };
}

/** Fails unless openssl reads the same subject, issuer, serial, validity, SANs, fingerprint and usages. */
export function assertOpensslAgrees(info: CertificateInfo): void {
  const o = opensslView(info.pem);
  const mine = {
    subject: info.subject,
    issuer: info.issuer,
    serialHex: info.serialHex,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    fingerprintSha256: info.fingerprintSha256,
    dns: info.dns,
    uris: info.uris,
    ips: info.ips.map(canonicalIp),
    isCa: info.isCa,
    keyUsage: [...info.keyUsage].sort(),
    extKeyUsage: [...info.extKeyUsage].sort(),
  };
  assert.deepEqual(
    mine,
    { ...o, keyUsage: [...o.keyUsage].sort(), extKeyUsage: [...o.extKeyUsage].sort() },
    `openssl disagrees about ${info.subject || info.uris[0]}`,
  );
}

/** `openssl verify` of a leaf (plus untrusted intermediates) against a CA file, optionally with CRLs. */
export function opensslVerify(
  dir: string,
  leafPem: string,
  caPems: string[],
  opts: { untrusted?: string[]; crls?: string[]; crlAll?: boolean; purpose?: 'sslserver' | 'sslclient'; attime?: Date } = {},
): { ok: boolean; output: string } {
  const f = (name: string, text: string): string => {
    const p = path.join(dir, `${name}-${Math.random().toString(16).slice(2)}.pem`);
    writeFileSync(p, text);
    return p;
  };
  const args = ['verify', '-CAfile', f('ca', caPems.join(''))];
  if (opts.untrusted?.length) args.push('-untrusted', f('untrusted', opts.untrusted.join('')));
  if (opts.crls?.length) args.push(opts.crlAll ? '-crl_check_all' : '-crl_check', '-CRLfile', f('crl', opts.crls.join('')));
  if (opts.purpose) args.push('-purpose', opts.purpose);
  if (opts.attime) args.push('-attime', String(Math.floor(opts.attime.getTime() / 1000)));
  args.push(f('leaf', leafPem));
  const r = openssl(args);
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

/**
 * A `meshgate` command line for tests: the compiled CLI when running from dist/, else the `ca`
 * commands loaded through tsx. Returns a wrapper script path usable as $MESHGATE.
 */
export function meshgateCommand(dir: string): string {
  const root = repoRoot();
  const wrapper = path.join(dir, 'meshgate');
  if (runningCompiled() && existsSync(path.join(root, 'dist/src/cli/main.js'))) {
    writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${path.join(root, 'dist/src/cli/main.js')}" "$@"\n`, { mode: 0o755 });
  } else {
    const harness = path.join(dir, 'meshgate-ca.mjs');
    writeFileSync(
      harness,
      [
        `import { Command } from ${JSON.stringify(pathToFileURL(path.join(root, 'node_modules/commander/esm.mjs')).href)};`,
        `import { registerCaCommands } from ${JSON.stringify(pathToFileURL(path.join(root, 'src/cli/ca.ts')).href)};`,
        `const p = new Command('meshgate'); registerCaCommands(p);`,
        `p.parseAsync(process.argv).catch((e) => { process.stderr.write('meshgate: ' + (e.code ? '[' + e.code + '] ' : '') + e.message + '\\n'); process.exit(1); });`,
      ].join('\n'),
    );
    const tsx = path.join(root, 'node_modules/tsx/dist/loader.mjs');
    writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" --import "file://${tsx}" "${harness}" "$@"\n`, { mode: 0o755 });
  }
  return wrapper;
}

export async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ status: number; stdout: string; stderr: string }> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}
