// `lab verify`: drive one query through the client's normal address while watching the wire, then
// rebuild the path hop by hop from the proxies' own records: each TLS leg is a pair of access-log
// entries (the upstream side's local address equals the downstream side's remote address) giving
// version, cipher and identities; the issuers come from each proxy's /certs; bytes from the access
// logs and from /stats/prometheus. Passes only if the query returned its rows, every leg between two
// proxies was TLS, and the wire check found no query text or result row in clear between two pods.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LabSummary, RunningLab } from './lab.js';
import { nodeEntry, privateHostsAvailable } from './lab-process.js';
import { findPlaintext, startWireCapture, tcpdumpAvailable, type WireCapture } from './wire-check.js';

export interface VerifyLeg {
  from: string;
  to: string;
  tls_version: string | null;
  cipher: string | null;
  client_identity: string | null;
  client_issuer: string | null;
  server_identity: string | null;
  server_issuer: string | null;
  /** Bytes on this leg (both directions) as the receiving proxy counted them. */
  bytes: number;
}

export interface VerifyReport {
  passed: boolean;
  mode: 'netns' | 'loopback';
  query: { ok: boolean; client: string; detail: string };
  legs: VerifyLeg[];
  proxies: { proxy: string; sent_bytes: number; received_bytes: number; connections_opened: number }[];
  /** `skipped`: the check could not run here and the caller allowed that (`wireCheck: 'if-available'`). */
  wire_check: { links_watched: number; plaintext_found: boolean; links: string[]; findings: string[]; error?: string; skipped?: string };
  failures: string[];
}

/** The access-log fields meshgate's proxy writes in JSON mode (src/proxy/access-log.ts). */
interface AccessLogEntry {
  listener?: string;
  upstream_cluster?: string | null;
  upstream_host?: string | null;
  upstream_local_address?: string | null;
  downstream_remote_address?: string;
  downstream_local_address?: string;
  downstream_tls_version?: string | null;
  downstream_tls_cipher?: string | null;
  downstream_peer_principal?: string | null;
  downstream_peer_serial?: string | null;
  upstream_tls_version?: string | null;
  upstream_tls_cipher?: string | null;
  upstream_peer_principal?: string | null;
  bytes_received?: number;
  bytes_sent?: number;
  response_flags?: string;
}

interface CertInfo {
  serial?: string;
  subject?: string;
  issuer?: string;
  sans: string[];
}

export class VerifyError extends Error {
  constructor(
    readonly code: 'E_LAB_VERIFY',
    message: string,
  ) {
    super(message);
    this.name = 'VerifyError';
  }
}

/** The command that runs SQL through the mesh from the client pod, with the unmodified client. */
export function clientQueryCommand(lab: LabSummary, sql: string[]): { argv: string[]; client: string; stdin?: string } {
  const t = lab.clientTarget;
  if (!t) throw new VerifyError('E_LAB_VERIFY', 'the lab file names no client workload (client:)');
  const db = lab.workloads.find((w) => w.database !== undefined)?.database ?? 'mariadb-server';
  // In loopback mode the name resolves only where a private /etc/hosts can be mounted.
  const host =
    lab.mode === 'loopback' && !privateHostsAvailable()
      ? lab.workloads.find((w) => w.name === t.workload && w.cluster === t.cluster)!.address
      : t.host;
  if (db === 'mariadb-server') {
    // The SQL goes to stdin: one argument may not exceed 128 KiB (MAX_ARG_STRLEN), a batch of rows can.
    return {
      client: 'mariadb',
      argv: [
        'mariadb',
        '--no-defaults',
        '-h',
        host,
        '-P',
        String(t.port),
        '-u',
        'meshgate',
        '-pmeshgate',
        'sbtest',
        '--batch',
        '--skip-column-names',
        '--connect-timeout=15',
      ],
      stdin: `${sql.join(';\n')};\n`,
    };
  }
  return {
    client: 'node-postgres',
    argv: [...nodeEntry('pg-query', import.meta.url), '--host', host, '--port', String(t.port), ...sql.flatMap((s) => ['--sql', s])],
  };
}

/** Runs SQL in the client pod with the lab's client; resolves with its exit code and output. */
export function execClientQuery(lab: RunningLab, sql: string[], timeoutMs = 60_000): Promise<{ code: number; out: string; err: string }> {
  const { argv, stdin } = clientQueryCommand(lab, sql);
  return new Promise((resolve, reject) => {
    const child = lab.exec(argv, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (stdin !== undefined) {
      child.stdin!.on('error', () => undefined); // the client may exit before reading it all; its exit code says why
      child.stdin!.end(stdin);
    }
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new VerifyError('E_LAB_VERIFY', `cannot run ${argv[0]}: ${e.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out, err });
    });
  });
}

/** Runs SQL in the client pod; resolves with stdout, rejects with the client's stderr. */
export async function runClientQuery(lab: RunningLab, sql: string[], timeoutMs = 60_000): Promise<string> {
  const r = await execClientQuery(lab, sql, timeoutMs);
  if (r.code !== 0) throw new VerifyError('E_LAB_VERIFY', `${clientQueryCommand(lab, sql).argv[0]} exited ${r.code}: ${r.err.trim()}`);
  return r.out;
}

function readNewLines(file: string, from: number): AccessLogEntry[] {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    // No access log yet: that proxy handled no connection.
    return [];
  }
  return buf
    .subarray(from)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as AccessLogEntry);
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    // Not created yet: everything in it later is new.
    return 0;
  }
}

/** Node prints distinguished names one attribute per line; a report wants them on one. */
const oneLine = (dn: string): string => dn.split('\n').filter(Boolean).join(', ');

/** Collects certificate descriptions from /certs, whatever nesting the admin uses (Envoy's or richer). */
export function certsFromAdmin(json: unknown): CertInfo[] {
  const out: CertInfo[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    const serial = (o.serial_number ?? o.serialNumber ?? o.serial) as string | undefined;
    if (typeof serial === 'string') {
      const sans: string[] = [];
      const rawSans = (o.subject_alt_names ?? o.subjectAltNames ?? o.sans) as unknown;
      if (Array.isArray(rawSans)) {
        for (const s of rawSans) {
          if (typeof s === 'string') sans.push(s);
          else if (s && typeof s === 'object')
            for (const x of Object.values(s as Record<string, unknown>)) if (typeof x === 'string') sans.push(x);
        }
      }
      out.push({
        serial: serial.toLowerCase().replace(/^0+/, ''),
        ...(typeof o.subject === 'string' ? { subject: oneLine(o.subject) } : {}),
        ...(typeof o.issuer === 'string' ? { issuer: oneLine(o.issuer) } : {}),
        sans,
      });
    }
    for (const x of Object.values(o)) if (typeof x === 'object') visit(x);
  };
  visit(json);
  return out;
}

async function getJson(url: string): Promise<unknown> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function getText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/** Sums a Prometheus counter over all its label sets. */
export function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

function ipOf(addr: string | null | undefined): string | undefined {
  if (!addr) return undefined;
  const i = addr.lastIndexOf(':');
  return i > 0 ? addr.slice(0, i) : addr;
}

export interface VerifyOptions {
  timeoutMs?: number;
  /**
   * 'required' (default, `lab verify`): no wire check is a failure. 'if-available' (`lab up`'s first
   * query): without tcpdump or root the check is reported skipped, the rest still decides.
   */
  wireCheck?: 'required' | 'if-available';
}

export async function verifyLab(lab: RunningLab, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const failures: string[] = [];
  const proxyName = (p: LabSummary['proxies'][number]): string => `${p.cluster}/${p.namespace}/${p.name}`;
  const offsets = new Map(lab.proxies.map((p) => [p.accessLog, fileSize(p.accessLog)]));
  const nonce = randomBytes(6).toString('hex');
  const queryMarker = `meshgate-verify-${nonce}`;
  const resultMarker = `row-${nonce}-visible`;
  const reversed = [...resultMarker].reverse().join('');
  // The query text carries queryMarker; the result carries resultMarker, which the query text does not.
  const sql = `SELECT '${queryMarker}' AS q, REVERSE('${reversed}') AS r`;

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'meshgate-verify-'));
  let capture: WireCapture | undefined;
  const wire: VerifyReport['wire_check'] = { links_watched: 0, plaintext_found: false, links: [], findings: [] };
  const query: VerifyReport['query'] = { ok: false, client: '', detail: '' };
  try {
    const tcpdump = opts.wireCheck === 'if-available' ? tcpdumpAvailable() : { ok: true };
    if (!tcpdump.ok) {
      wire.skipped = tcpdump.reason ?? 'tcpdump unavailable';
    } else {
      try {
        capture = await startWireCapture(
          { mode: lab.mode, bridgeNetns: [...lab.bridgeNetns, ...(lab.wanNetns ? [lab.wanNetns] : [])], loopbackNet: lab.loopbackNet },
          tmp,
        );
        wire.links = capture.links;
        wire.links_watched = capture.links.length;
      } catch (err) {
        wire.error = (err as Error).message;
        failures.push(`wire check: ${wire.error}`);
      }
    }
    query.client = clientQueryCommand(lab, [sql]).client;
    try {
      const out = await runClientQuery(lab, [sql], opts.timeoutMs ?? 60_000);
      query.ok = out.includes(queryMarker) && out.includes(resultMarker);
      query.detail = query.ok ? 'the query returned its row through the mesh' : `unexpected result: ${out.trim().slice(0, 200)}`;
    } catch (err) {
      query.detail = (err as Error).message;
    }
    if (!query.ok) failures.push(`query: ${query.detail}`);
    // Access-log lines are written when connections close; give the chain a moment to finish.
    await new Promise((r) => setTimeout(r, 1_000));
    if (capture) {
      const flows = await capture.stop();
      capture = undefined;
      const isIntraPod = intraPodFilter(lab);
      const found = findPlaintext(flows, [queryMarker, resultMarker], (f) => !isIntraPod(f.src, f.dst));
      wire.findings = found.map((f) => `${f.needle} in clear on ${f.flow}`);
      wire.plaintext_found = found.length > 0;
      if (wire.plaintext_found) failures.push(`wire check: ${wire.findings.join('; ')}`);
      if (lab.mode === 'loopback' && flows.size === 0) failures.push('wire check: no TCP traffic seen on lo for the lab');
    }
  } finally {
    if (capture) await capture.stop().catch(() => undefined); // already failing; the pcap is not needed
    rmSync(tmp, { recursive: true, force: true });
  }

  // Legs from the access logs.
  const entries = new Map<string, AccessLogEntry[]>();
  for (const p of lab.proxies) entries.set(proxyName(p), readNewLines(p.accessLog, offsets.get(p.accessLog) ?? 0));
  const certs = new Map<string, CertInfo[]>();
  const proxies: VerifyReport['proxies'] = [];
  for (const p of lab.proxies) {
    try {
      certs.set(proxyName(p), certsFromAdmin(await getJson(`${p.adminUrl}/certs`)));
    } catch (err) {
      failures.push(`${proxyName(p)} /certs: ${(err as Error).message}`);
    }
    try {
      const text = await getText(`${p.adminUrl}/stats/prometheus`);
      proxies.push({
        proxy: proxyName(p),
        sent_bytes: sumMetric(text, 'istio_tcp_sent_bytes_total'),
        received_bytes: sumMetric(text, 'istio_tcp_received_bytes_total'),
        connections_opened: sumMetric(text, 'istio_tcp_connections_opened_total'),
      });
    } catch (err) {
      failures.push(`${proxyName(p)} /stats/prometheus: ${(err as Error).message}`);
    }
  }
  const legs: VerifyLeg[] = [];
  const issuerOf = (proxy: string, identity: string | null | undefined, serial?: string | null): string | null => {
    const list = certs.get(proxy) ?? [];
    const s = serial?.toLowerCase().replace(/^0+/, '');
    const bySerial = s ? list.find((c) => c.serial === s) : undefined;
    const byIdentity = identity ? list.find((c) => c.sans.includes(identity) || (c.subject ?? '').includes(identity)) : undefined;
    return (bySerial ?? byIdentity)?.issuer ?? null;
  };
  for (const from of lab.proxies) {
    for (const up of entries.get(proxyName(from)) ?? []) {
      // Only a real address pairs two log lines: a connection that closed before its socket reported one
      // logs ':' (or nothing), and two such lines in two proxies would pair into a leg that never existed.
      if (!isSocketAddress(up.upstream_local_address)) continue;
      for (const to of lab.proxies) {
        const down = (entries.get(proxyName(to)) ?? []).find(
          (d) => d.downstream_remote_address === up.upstream_local_address && sameDestination(up.upstream_host, d.downstream_local_address),
        );
        if (!down) continue;
        const leg: VerifyLeg = {
          from: proxyName(from),
          to: proxyName(to),
          tls_version: down.downstream_tls_version ?? up.upstream_tls_version ?? null,
          cipher: down.downstream_tls_cipher ?? up.upstream_tls_cipher ?? null,
          client_identity: down.downstream_peer_principal ?? null,
          client_issuer: issuerOf(proxyName(from), down.downstream_peer_principal, down.downstream_peer_serial),
          server_identity: up.upstream_peer_principal ?? null,
          server_issuer: issuerOf(proxyName(to), up.upstream_peer_principal),
          bytes: (down.bytes_received ?? 0) + (down.bytes_sent ?? 0),
        };
        // One leg per hop: a query may open more than one connection (the client's handshake retry,
        // a second statement); the hop's properties must agree and its bytes add up.
        const same = legs.find((l) => l.from === leg.from && l.to === leg.to);
        if (same) {
          same.bytes += leg.bytes;
          for (const k of ['tls_version', 'cipher', 'client_identity', 'server_identity'] as const) {
            if (same[k] !== leg[k])
              failures.push(`leg ${leg.from} -> ${leg.to}: connections disagree on ${k} (${String(same[k])} vs ${String(leg[k])})`);
          }
          continue;
        }
        legs.push(leg);
        if (!leg.tls_version) failures.push(`leg ${leg.from} -> ${leg.to} is not TLS`);
        if (!leg.client_identity) failures.push(`leg ${leg.from} -> ${leg.to}: no client certificate`);
      }
    }
  }
  if (query.ok && legs.length === 0) failures.push('no leg between two proxies was found in the access logs');
  orderAlongPath(legs);
  return { passed: failures.length === 0, mode: lab.mode, query, legs, proxies, wire_check: wire, failures };
}

/** `host:port` with both parts present (IPv4 or IPv6 host). */
function isSocketAddress(a: string | null | undefined): a is string {
  return typeof a === 'string' && /^\S+:\d+$/.test(a) && !a.startsWith(':');
}

/**
 * The other half of the 4-tuple: where the upstream connection went is where the downstream one arrived.
 * Proxies that connect from one shared source address may reuse a source port towards
 * different destinations, so the source alone can pair unrelated connections. Only two IP addresses that
 * differ tell two connections apart; a host name (a DNS cluster's host) is not compared.
 */
function sameDestination(upstreamHost: string | null | undefined, downstreamLocal: string | undefined): boolean {
  const u = ipSocketAddress(upstreamHost);
  const d = ipSocketAddress(downstreamLocal);
  return u === undefined || d === undefined || u === d;
}

/** The address itself when it is `ip:port`; undefined for a host name or no address. */
function ipSocketAddress(a: string | null | undefined): string | undefined {
  if (!isSocketAddress(a)) return undefined;
  const host = a.slice(0, a.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return net.isIP(host) ? a : undefined;
}

/** Sorts legs in the order traffic takes them: a leg whose source is no leg's destination comes first. */
function orderAlongPath(legs: VerifyLeg[]): void {
  const rank = new Map<VerifyLeg, number>();
  const depth = (l: VerifyLeg, seen = 0): number => {
    if (seen > legs.length) return seen; // a cycle cannot happen on one query's path; bound it anyway
    const prev = legs.find((p) => p.to === l.from);
    return prev ? depth(prev, seen + 1) + 1 : 0;
  };
  for (const l of legs) rank.set(l, depth(l));
  legs.sort((a, b) => rank.get(a)! - rank.get(b)!);
}

/**
 * Loopback mode sees intra-pod hops on lo too: the client to its sidecar's outbound listener (on the
 * client pod's own address) and a sidecar to its application (127.0.0.1, outside the lab's block).
 * Every other flow touching the lab's 127.b.0.0/16 is between two pods. In netns mode every captured
 * flow crossed a veth between two namespaces.
 */
function intraPodFilter(lab: LabSummary): (src: string, dst: string) => boolean {
  if (lab.mode === 'netns') return () => false;
  const inside = new Set<string>();
  if (lab.clientTarget) {
    const client = lab.workloads.find((w) => w.name === lab.clientTarget!.workload && w.cluster === lab.clientTarget!.cluster);
    if (client) inside.add(`${client.address}:${lab.clientTarget.port}`);
  }
  const prefix = lab.loopbackNet.split('.').slice(0, 2).join('.') + '.';
  return (src, dst) => {
    const inLab = (ipOf(src) ?? '').startsWith(prefix) || (ipOf(dst) ?? '').startsWith(prefix);
    return !inLab || inside.has(dst) || inside.has(src);
  };
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`lab verify (${r.mode} mode): ${r.passed ? 'PASSED' : 'FAILED'}`);
  lines.push(`  query via ${r.query.client}: ${r.query.ok ? 'ok' : 'FAILED'} — ${r.query.detail}`);
  lines.push('  path:');
  for (const l of r.legs) {
    lines.push(`    ${l.from} -> ${l.to}`);
    lines.push(`      ${l.tls_version ?? 'PLAINTEXT'} ${l.cipher ?? ''}, ${l.bytes} bytes`);
    lines.push(`      client: ${l.client_identity ?? '-'} (issued by ${l.client_issuer ?? '?'})`);
    lines.push(`      server: ${l.server_identity ?? '-'} (issued by ${l.server_issuer ?? '?'})`);
  }
  if (r.legs.length === 0) lines.push('    (no proxy-to-proxy leg found)');
  lines.push('  proxies (from /stats/prometheus):');
  for (const p of r.proxies)
    lines.push(`    ${p.proxy}: ${p.connections_opened} connections, ${p.sent_bytes} bytes sent, ${p.received_bytes} received`);
  if (r.wire_check.skipped) lines.push(`  wire check: skipped (${r.wire_check.skipped})`);
  else
    lines.push(
      `  wire check: ${r.wire_check.links_watched} links watched, plaintext ${r.wire_check.plaintext_found ? 'FOUND' : 'not found'}${r.wire_check.error ? ` (${r.wire_check.error})` : ''}`,
    );
  for (const f of r.wire_check.findings) lines.push(`    ${f}`);
  if (r.failures.length > 0) {
    lines.push('  failures:');
    for (const f of r.failures) lines.push(`    - ${f}`);
  }
  return `${lines.join('\n')}\n`;
}
