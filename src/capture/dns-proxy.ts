// The sidecar's DNS proxy (Istio's DNS capture, pilot-agent's job): capture rules send the pod's DNS
// (UDP and TCP 53) here; names the mesh knows are answered from the control plane's name table, every
// other query goes unchanged to the pod's own resolvers, over the protocol it came in on. The proxy
// never makes up NXDOMAIN: what it does not know, the upstream resolver decides.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NameTable } from '../envoy/name-table.js';
import { CaptureError } from './errors.js';
import { DnsLookupTable, type LookupContext } from './dns-lookup-table.js';
import {
  DNS_EDNS_UDP_SIZE,
  DNS_MAX_MESSAGE,
  DnsRcode,
  decodeQuery,
  encodeBareResponse,
  encodeMessage,
  readName,
  type DnsHeader,
  type DnsQuestion,
} from './dns-wire.js';
import type { LogFn } from '../shared/log.js';

export interface DnsEndpoint {
  address: string;
  port: number;
}

export interface DnsProxyOptions extends LookupContext {
  /** Where to answer, UDP and TCP on the same port (Istio: 127.0.0.1:15053). Port 0 picks one. */
  listen: DnsEndpoint;
  /** The pod's resolvers (from resolv.conf), tried in order. */
  upstream: DnsEndpoint[];
  /** The current name table; undefined before the first push (queries are then all forwarded). */
  table: () => NameTable | undefined;
  log?: LogFn;
  /** How long one upstream attempt may take (default 2 s); all attempts together are bounded by upstream.length × this. */
  upstreamTimeoutMs?: number;
  /** A client TCP connection with no query for this long is closed (default 10 s). */
  tcpIdleTimeoutMs?: number;
}

export interface DnsProxyStats {
  queries: number;
  /** Answered from the name table. */
  answered: number;
  forwarded: number;
  /** Queries that got SERVFAIL because no upstream answered in time. */
  upstreamFailures: number;
  /** Responses cut to the client's UDP size, with TC set. */
  truncated: number;
  malformed: number;
}

type Protocol = 'udp' | 'tcp';

export class DnsProxy {
  readonly stats: DnsProxyStats = { queries: 0, answered: 0, forwarded: 0, upstreamFailures: 0, truncated: 0, malformed: 0 };
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly clients = new Set<net.Socket>();
  private readonly inFlight = new Set<(err: Error) => void>();
  private cached: { nt: NameTable; table: DnsLookupTable } | undefined;
  private closed = false;
  private readonly log: LogFn;

  constructor(private readonly opts: DnsProxyOptions) {
    if (net.isIP(opts.listen.address) === 0)
      throw new CaptureError('E_DNS_LISTEN', `DNS proxy listen address "${opts.listen.address}" is not an IP address`);
    for (const u of opts.upstream) {
      if (net.isIP(u.address) === 0) throw new CaptureError('E_DNS_LISTEN', `upstream resolver "${u.address}" is not an IP address`);
    }
    this.log = opts.log ?? (() => undefined);
  }

  /** Binds UDP and TCP on the same port and starts answering. Resolves with the bound address. */
  async start(): Promise<DnsEndpoint> {
    const { address, port: wanted } = this.opts.listen;
    const family = net.isIPv6(address) ? 'udp6' : 'udp4';
    // With port 0, TCP picks the port (TCP ports are the contended ones on a busy host) and UDP must get
    // the same one; if that UDP port is taken, try another.
    for (let attempt = 0; attempt < 20; attempt++) {
      const tcp = net.createServer((socket) => this.onTcpClient(socket));
      const port = await new Promise<number>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: wanted, exclusive: true }, () => resolve((tcp.address() as net.AddressInfo).port));
      }).catch((err: unknown) => {
        throw new CaptureError('E_DNS_LISTEN', `DNS proxy cannot listen on tcp ${address}:${wanted}: ${(err as Error).message}`, {
          cause: err,
        });
      });
      const udp = dgram.createSocket({ type: family });
      const bound = await new Promise<boolean>((resolve, reject) => {
        udp.once('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE' && wanted === 0) resolve(false);
          else
            reject(new CaptureError('E_DNS_LISTEN', `DNS proxy cannot listen on udp ${address}:${port}: ${err.message}`, { cause: err }));
        });
        udp.bind({ address, port, exclusive: true }, () => resolve(true));
      }).catch(async (err: unknown) => {
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        throw err;
      });
      if (!bound) {
        udp.close();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        continue;
      }
      udp.on('message', (msg, rinfo) => this.onUdpQuery(msg, rinfo));
      udp.on('error', (err) => this.log('error', 'DNS proxy UDP socket error', { error: err.message }));
      tcp.on('error', (err) => this.log('error', 'DNS proxy TCP server error', { error: err.message }));
      this.udp = udp;
      this.tcp = tcp;
      this.log('info', 'DNS proxy listening', { address, port, upstream: this.opts.upstream.map((u) => `${u.address}:${u.port}`) });
      return { address, port };
    }
    throw new CaptureError('E_DNS_LISTEN', `DNS proxy could not get the same free port for UDP and TCP on ${address} after 20 attempts`);
  }

  /** The address answering queries (after start). */
  get address(): DnsEndpoint | undefined {
    if (!this.udp) return undefined;
    return { address: this.opts.listen.address, port: this.udp.address().port };
  }

  /** Stops listening, closes client connections and abandons upstream exchanges in flight. */
  async close(): Promise<void> {
    this.closed = true;
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const s of this.clients) s.destroy();
    for (const cancel of [...this.inFlight]) cancel(new Error('DNS proxy closed'));
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }

  private lookupTable(): DnsLookupTable | undefined {
    const nt = this.opts.table();
    if (!nt) return undefined;
    // The table object changes only on a push; rebuild the lookup index then, not per query.
    if (this.cached?.nt !== nt) this.cached = { nt, table: new DnsLookupTable(nt, this.opts) };
    return this.cached.table;
  }

  private onUdpQuery(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    void this.answer(msg, 'udp').then((response) => {
      if (response && this.udp && !this.closed) this.udp.send(response, rinfo.port, rinfo.address);
    });
  }

  private onTcpClient(socket: net.Socket): void {
    this.clients.add(socket);
    socket.setTimeout(this.opts.tcpIdleTimeoutMs ?? 10_000, () => socket.destroy());
    socket.on('close', () => this.clients.delete(socket));
    socket.on('error', (err) => this.log('debug', 'DNS client connection error', { peer: socket.remoteAddress, error: err.message }));
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // RFC 1035 §4.2.2: each message is preceded by its two-byte length; several may be pipelined (RFC 7766).
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.answer(Buffer.from(msg), 'tcp').then((response) => {
          if (!response || socket.destroyed) return;
          const frame = Buffer.alloc(2 + response.length);
          frame.writeUInt16BE(response.length, 0);
          response.copy(frame, 2);
          socket.write(frame);
        });
      }
    });
  }

  /** The response to one query, or undefined when nothing should be sent (not a query at all). */
  private async answer(raw: Buffer, proto: Protocol): Promise<Buffer | undefined> {
    let query: ReturnType<typeof decodeQuery>;
    try {
      query = decodeQuery(raw);
    } catch (err) {
      this.stats.malformed++;
      this.log('debug', 'malformed DNS query', { proto, error: (err as Error).message });
      // With a readable header the client gets FORMERR (RFC 1035 §4.1.1); without one there is no one to answer.
      if (raw.length < 12) return undefined;
      return encodeBareResponse({ header: headerOnly(raw) }, DnsRcode.FORMERR);
    }
    if (query.header.qr) return undefined;
    this.stats.queries++;
    const { header, question } = query;
    if (header.opcode !== 0) return encodeBareResponse(query, DnsRcode.NOTIMP);
    if (!question) return encodeBareResponse(query, DnsRcode.SERVFAIL);
    const maxSize = proto === 'udp' ? Math.min(query.udpSize, DNS_MAX_MESSAGE) : DNS_MAX_MESSAGE;

    const hit = this.lookupTable()?.lookup(question.name, question.type);
    if (hit) {
      this.stats.answered++;
      const reply: DnsHeader = { ...header, qr: true, aa: true, tc: false, ra: true, ad: false, rcode: DnsRcode.NOERROR };
      const out = encodeMessage(reply, [question], hit.answers, { maxSize, ednsUdpSize: query.hasOpt ? DNS_EDNS_UDP_SIZE : undefined });
      if ((out.readUInt16BE(2) & 0x0200) !== 0) this.stats.truncated++;
      this.log('debug', 'answered from the name table', { proto, name: question.name, type: question.type, answers: hit.answers.length });
      return out;
    }

    this.stats.forwarded++;
    const upstream = await this.forward(raw, header.id, question, proto);
    if (!upstream) {
      this.stats.upstreamFailures++;
      return encodeBareResponse(query, DnsRcode.SERVFAIL);
    }
    if (upstream.length > maxSize) {
      // Larger than the client can take over UDP: tell it to retry over TCP (RFC 1035 §4.2.1).
      this.stats.truncated++;
      return encodeBareResponse({ header: { ...headerOnly(upstream), id: header.id }, question }, upstream.readUInt16BE(2) & 0xf, true);
    }
    return upstream;
  }

  /** Sends the query to each upstream in turn until one answers; the response carries the client's id. */
  private async forward(raw: Buffer, clientId: number, question: DnsQuestion, proto: Protocol): Promise<Buffer | undefined> {
    const timeout = this.opts.upstreamTimeoutMs ?? 2000;
    for (const upstream of this.opts.upstream) {
      if (this.closed) return undefined;
      // A fresh random id and source port per upstream query (RFC 5452), so the client's id is never on the wire upstream.
      const id = randomInt(0, 0x10000);
      const out = Buffer.from(raw);
      out.writeUInt16BE(id, 0);
      try {
        const response =
          proto === 'udp'
            ? await this.exchangeUdp(out, id, question, upstream, timeout)
            : await this.exchangeTcp(out, id, question, upstream, timeout);
        response.writeUInt16BE(clientId, 0);
        return response;
      } catch (err) {
        this.log('info', 'upstream DNS failure', {
          proto,
          upstream: `${upstream.address}:${upstream.port}`,
          name: question.name,
          error: (err as Error).message,
        });
      }
    }
    return undefined;
  }

  /**
   * One upstream exchange, settled exactly once: by the answer, an error or the timeout. `release` frees
   * the socket; the exchange stays in `inFlight` so close() can end it.
   */
  private boundedExchange(
    timeoutMs: number,
    release: () => void,
    run: (done: (err: Error | undefined, response?: Buffer) => void) => void,
  ): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err: Error | undefined, response?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(done);
        release();
        if (err) reject(err);
        else resolve(response!);
      };
      const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.inFlight.add(done);
      run(done);
    });
  }

  private exchangeUdp(query: Buffer, id: number, question: DnsQuestion, upstream: DnsEndpoint, timeoutMs: number): Promise<Buffer> {
    const socket = dgram.createSocket(net.isIPv6(upstream.address) ? 'udp6' : 'udp4');
    return this.boundedExchange(
      timeoutMs,
      () => socket.close(),
      (done) => {
        socket.on('error', (err) => done(err));
        socket.on('message', (msg, rinfo) => {
          // Only the upstream's answer to this very question counts; anything else is ignored (spoofing, strays).
          if (rinfo.port !== upstream.port || !sameAddress(rinfo.address, upstream.address)) return;
          if (isResponseTo(msg, id, question)) done(undefined, msg);
        });
        socket.send(query, upstream.port, upstream.address, (err) => {
          if (err) done(err);
        });
      },
    );
  }

  private exchangeTcp(query: Buffer, id: number, question: DnsQuestion, upstream: DnsEndpoint, timeoutMs: number): Promise<Buffer> {
    const socket = net.connect({ host: upstream.address, port: upstream.port });
    let buf: Buffer = Buffer.alloc(0);
    return this.boundedExchange(
      timeoutMs,
      () => socket.destroy(),
      (done) => {
        socket.on('error', (err) => done(err));
        socket.on('close', () => done(new Error('upstream closed the connection before answering')));
        socket.on('connect', () => {
          const frame = Buffer.alloc(2 + query.length);
          frame.writeUInt16BE(query.length, 0);
          query.copy(frame, 2);
          socket.write(frame);
        });
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            const msg = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
            buf = buf.subarray(2 + msg.length);
            if (isResponseTo(msg, id, question)) return done(undefined, msg);
          }
        });
      },
    );
  }
}

function headerOnly(raw: Buffer): DnsHeader {
  const flags = raw.readUInt16BE(2);
  return {
    id: raw.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: false,
    tc: false,
    rd: (flags & 0x0100) !== 0,
    ra: false,
    ad: false,
    cd: (flags & 0x0010) !== 0,
    rcode: 0,
  };
}

function isResponseTo(msg: Buffer, id: number, question: DnsQuestion): boolean {
  if (msg.length < 12 || msg.readUInt16BE(0) !== id || (msg.readUInt16BE(2) & 0x8000) === 0) return false;
  if (msg.readUInt16BE(4) === 0) return true; // some servers omit the question in errors
  try {
    const { name, next } = readName(msg, 12);
    return name.toLowerCase() === question.name.toLowerCase() && msg.readUInt16BE(next) === question.type;
  } catch (err) {
    // A malformed response is not the answer we wait for.
    void err;
    return false;
  }
}

function sameAddress(a: string, b: string): boolean {
  const strip = (x: string) => (x.startsWith('::ffff:') ? x.slice(7) : x);
  return strip(a) === strip(b);
}

/** The resolvers and search domains of a resolv.conf, for the proxy's upstream and search handling. */
export function readResolvConf(file = '/etc/resolv.conf'): { nameservers: DnsEndpoint[]; search: string[] } {
  const text = readFileSync(file, 'utf8');
  const nameservers: DnsEndpoint[] = [];
  let search: string[] = [];
  for (const line of text.split('\n')) {
    const [key, ...values] = line.trim().split(/\s+/);
    if (key === 'nameserver' && values[0]) nameservers.push({ address: values[0].replace(/%.*$/, ''), port: 53 });
    else if (key === 'search' || key === 'domain') search = values.filter((v) => v !== '');
  }
  return { nameservers, search };
}
