// A small authoritative DNS server for tests, standing in for the pod's upstream resolver: UDP and
// TCP on one port, a fixed zone, real truncation over UDP (TC, client retries over TCP), plus names
// that misbehave on purpose (never answer; answer over UDP beyond the client's size).
import dgram from 'node:dgram';
import net from 'node:net';
import { DnsRcode, DnsType, decodeQuery, encodeBareResponse, encodeMessage, type DnsAnswer } from '../../src/capture/dns-wire.js';

export const UPSTREAM_ZONE: Record<string, DnsAnswer[]> = {
  'example.org.': [{ name: 'example.org.', type: DnsType.A, ttl: 60, data: '192.0.2.10' }],
  'v6.example.org.': [{ name: 'v6.example.org.', type: DnsType.AAAA, ttl: 60, data: '2001:db8::10' }],
  // 60 A records: about 1 KB, more than 512 bytes.
  'big.example.org.': Array.from({ length: 60 }, (_, i) => ({
    name: 'big.example.org.',
    type: DnsType.A,
    ttl: 60,
    data: `192.0.2.${i + 1}`,
  })),
  'oversize.example.org.': Array.from({ length: 60 }, (_, i) => ({
    name: 'oversize.example.org.',
    type: DnsType.A,
    ttl: 60,
    data: `198.51.100.${i + 1}`,
  })),
};

export interface TestDnsServer {
  address: string;
  port: number;
  /** Queries seen, as "proto name type". */
  seen: string[];
  close(): Promise<void>;
}

export function respond(raw: Buffer, proto: 'udp' | 'tcp', seen: string[]): Buffer | undefined {
  const q = decodeQuery(raw);
  if (!q.question) return encodeBareResponse(q, DnsRcode.FORMERR);
  const name = q.question.name.toLowerCase() + '.';
  seen.push(`${proto} ${name} ${q.question.type}`);
  if (name === 'silent.example.org.') return undefined;
  const zone = UPSTREAM_ZONE[name];
  const header = { ...q.header, qr: true, aa: true, ra: true, rcode: zone ? DnsRcode.NOERROR : DnsRcode.NXDOMAIN };
  const answers = (zone ?? []).filter((a) => a.type === q.question!.type || q.question!.type === DnsType.ANY);
  // oversize.example.org ignores the UDP limit, to exercise the proxy's own truncation.
  const limit = proto === 'tcp' || name === 'oversize.example.org.' ? 65535 : q.udpSize;
  const full = encodeMessage(header, [q.question], answers, { ednsUdpSize: q.hasOpt ? 4096 : undefined });
  if (full.length <= limit) return full;
  return encodeBareResponse(q, DnsRcode.NOERROR, true);
}

export async function startTestDnsServer(address: string, port = 0): Promise<TestDnsServer> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  // TCP picks the port (the contended kind on a busy host), UDP takes the same; bounded retries.
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = net.createServer((socket) => serveTcp(socket, seen, sockets));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: address, port }, () => resolve());
    });
    const bound = (tcp.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve, reject) => {
      udp.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' && port === 0 ? resolve(false) : reject(err)));
      udp.bind({ address, port: bound }, () => resolve(true));
    });
    if (!ok) {
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
      continue;
    }
    udp.on('message', (msg, rinfo) => {
      const out = respond(msg, 'udp', seen);
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    return {
      address,
      port: bound,
      seen,
      close: async () => {
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
      },
    };
  }
  throw new Error(`no port free for both UDP and TCP on ${address} after 20 attempts`);
}

function serveTcp(socket: net.Socket, seen: string[], sockets: Set<net.Socket>): void {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => undefined);
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + msg.length);
      const out = respond(Buffer.from(msg), 'tcp', seen);
      if (!out) continue;
      const frame = Buffer.alloc(2 + out.length);
      frame.writeUInt16BE(out.length, 0);
      out.copy(frame, 2);
      socket.write(frame);
    }
  });
}

/** Sends one query over UDP and resolves with the first response (rejects after timeoutMs). */
export function queryUdp(server: { address: string; port: number }, query: Buffer, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP answer from ${server.address}:${server.port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(query, server.port, server.address);
  });
}

/** Sends queries over one TCP connection (pipelined) and resolves with the responses in arrival order. */
export function queryTcp(server: { address: string; port: number }, queries: Buffer[], timeoutMs = 5000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.address, port: server.port });
    const out: Buffer[] = [];
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${out.length}/${queries.length} TCP answers within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => {
      for (const q of queries) {
        const frame = Buffer.alloc(2 + q.length);
        frame.writeUInt16BE(q.length, 0);
        q.copy(frame, 2);
        socket.write(frame);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + out.at(-1)!.length);
      }
      if (out.length === queries.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(out);
      }
    });
  });
}
