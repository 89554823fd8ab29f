// The DNS wire format (RFC 1035 §4, EDNS0 from RFC 6891), as much as the sidecar's DNS proxy needs:
// parse any message (names with compression pointers, records with raw rdata, decoded for A, AAAA,
// CNAME and OPT) and build responses with name compression and truncation to the client's limit.
import net from 'node:net';
import { CaptureError } from './errors.js';

export const DnsType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const DnsClass = { IN: 1 } as const;
export const DnsRcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** The largest UDP response without EDNS (RFC 1035 §2.3.4). */
export const DNS_MIN_UDP_SIZE = 512;
/** The EDNS UDP size meshgate advertises: the DNS flag day 2020 value, safe from fragmentation. */
export const DNS_EDNS_UDP_SIZE = 1232;
export const DNS_MAX_MESSAGE = 65535;

export interface DnsHeader {
  id: number;
  /** Response (1) or query (0). */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** Authentic data / checking disabled (RFC 4035), passed through. */
  ad: boolean;
  cd: boolean;
  rcode: number;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  /** For OPT, the requestor's UDP payload size (RFC 6891 §6.1.2). */
  class: number;
  /** For OPT, the extended rcode, version and flags. */
  ttl: number;
  /** The rdata as it was on the wire (names inside it may use compression pointers into the message). */
  rdata: Buffer;
  /** Decoded data: the address for A/AAAA, the target name for CNAME/NS/PTR. */
  data?: string;
}

export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

function fail(message: string): never {
  throw new CaptureError('E_DNS_CODEC', `malformed DNS message: ${message}`);
}

/** Reads a domain name at offset; returns it (no trailing dot, '' for the root) and where the name ends in place. */
export function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let jumps = 0;
  let length = 0;
  for (;;) {
    if (pos >= buf.length) fail('name runs past the end');
    const len = buf[pos]!;
    if (len === 0) {
      pos += 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) fail('truncated compression pointer');
      // A pointer loop would never end: RFC 1035 pointers only go backwards in practice; bound the jumps.
      if (++jumps > 64) fail('too many compression pointers');
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | buf[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) fail(`unsupported label type 0x${len.toString(16)}`);
    if (pos + 1 + len > buf.length) fail('label runs past the end');
    length += len + 1;
    if (length > 255) fail('name longer than 255 octets');
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len).replace(/[.\\]/g, (c) => `\\${c}`));
    pos += 1 + len;
  }
  return { name: labels.join('.'), next: next >= 0 ? next : pos };
}

function readHeader(buf: Buffer): DnsHeader {
  if (buf.length < 12) fail(`${buf.length} bytes is shorter than the 12-byte header`);
  const flags = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
  };
}

/** Parses a whole DNS message. Throws CaptureError E_DNS_CODEC on malformed input. */
export function decodeMessage(buf: Buffer): DnsMessage {
  const header = readHeader(buf);
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  let pos = 12;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const { name, next } = readName(buf, pos);
    if (next + 4 > buf.length) fail('question runs past the end');
    questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
    pos = next + 4;
  }
  const sections: DnsRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const { name, next } = readName(buf, pos);
      if (next + 10 > buf.length) fail('record header runs past the end');
      const type = buf.readUInt16BE(next);
      const cls = buf.readUInt16BE(next + 2);
      const ttl = buf.readUInt32BE(next + 4);
      const rdlength = buf.readUInt16BE(next + 8);
      const start = next + 10;
      if (start + rdlength > buf.length) fail('rdata runs past the end');
      const rdata = buf.subarray(start, start + rdlength);
      const record: DnsRecord = { name, type, class: cls, ttl, rdata };
      if (type === DnsType.A && rdlength === 4) record.data = [...rdata].join('.');
      else if (type === DnsType.AAAA && rdlength === 16) record.data = ipv6ToString(rdata);
      else if (type === DnsType.CNAME || type === DnsType.NS || type === DnsType.PTR) record.data = readName(buf, start).name;
      sections[s]!.push(record);
      pos = start + rdlength;
    }
  }
  return { header, questions, answers: sections[0]!, authorities: sections[1]!, additionals: sections[2]! };
}

/** Only the header and the first question: enough to route a query without trusting the rest. */
export function decodeQuery(buf: Buffer): { header: DnsHeader; question?: DnsQuestion; udpSize: number; hasOpt: boolean } {
  const msg = decodeMessage(buf);
  const opt = msg.additionals.find((r) => r.type === DnsType.OPT);
  return { header: msg.header, question: msg.questions[0], udpSize: opt ? Math.max(DNS_MIN_UDP_SIZE, opt.class) : DNS_MIN_UDP_SIZE, hasOpt: opt !== undefined };
}

function ipv6ToString(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Let Node's URL/net canonicalisation compress the zeros (RFC 5952).
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** A record to put in a response. */
export interface DnsAnswer {
  name: string;
  type: number;
  ttl: number;
  /** An IPv4 address (A), IPv6 address (AAAA) or a domain name (CNAME). */
  data: string;
}

class Writer {
  buf = Buffer.alloc(512);
  len = 0;
  private names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
  /** Writes a name, compressing any suffix already written (RFC 1035 §4.1.4). */
  name(name: string): void {
    const labels = splitLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = this.names.get(suffix);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x3fff) this.names.set(suffix, this.len);
      const label = Buffer.from(labels[i]!, 'latin1');
      if (label.length === 0 || label.length > 63) throw new CaptureError('E_DNS_CODEC', `cannot encode name "${name}": label "${labels[i]}" must be 1-63 octets`);
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
  }
  mark(): { len: number; names: Map<string, number> } {
    return { len: this.len, names: new Map(this.names) };
  }
  reset(m: { len: number; names: Map<string, number> }): void {
    this.len = m.len;
    this.names = m.names;
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function splitLabels(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return [];
  // Escaped dots (\.) stay inside their label.
  return trimmed.split(/(?<!\\)\./).map((l) => l.replace(/\\(.)/g, '$1'));
}

function flagsOf(h: DnsHeader): number {
  return (h.qr ? 0x8000 : 0) | ((h.opcode & 0xf) << 11) | (h.aa ? 0x0400 : 0) | (h.tc ? 0x0200 : 0) | (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) | (h.ad ? 0x0020 : 0) | (h.cd ? 0x0010 : 0) | (h.rcode & 0xf);
}

export interface EncodeOptions {
  /** Truncate (and set TC) so the message fits; answers that do not fit are dropped whole. */
  maxSize?: number;
  /** Add an OPT record advertising this UDP size (when the query had one). */
  ednsUdpSize?: number;
}

/** Builds a message from a header, questions and answers (A, AAAA, CNAME). */
export function encodeMessage(header: DnsHeader, questions: DnsQuestion[], answers: DnsAnswer[], opts: EncodeOptions = {}): Buffer {
  const w = new Writer();
  const h = { ...header };
  w.u16(h.id);
  w.u16(0); // flags, written at the end (TC may change)
  w.u16(questions.length);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  for (const q of questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  const optSize = opts.ednsUdpSize !== undefined ? 11 : 0;
  const limit = (opts.maxSize ?? DNS_MAX_MESSAGE) - optSize;
  if (w.len > limit) fail('the question alone is larger than the size limit');
  let written = 0;
  for (const a of answers) {
    const before = w.mark();
    writeAnswer(w, a);
    if (w.len > limit) {
      w.reset(before);
      h.tc = true;
      break;
    }
    written++;
  }
  let additional = 0;
  if (opts.ednsUdpSize !== undefined) {
    w.u8(0); // root
    w.u16(DnsType.OPT);
    w.u16(opts.ednsUdpSize);
    w.u32(0);
    w.u16(0);
    additional = 1;
  }
  const out = w.result();
  out.writeUInt16BE(flagsOf(h), 2);
  out.writeUInt16BE(written, 6);
  out.writeUInt16BE(additional, 10);
  return out;
}

function writeAnswer(w: Writer, a: DnsAnswer): void {
  w.name(a.name);
  w.u16(a.type);
  w.u16(DnsClass.IN);
  w.u32(a.ttl);
  if (a.type === DnsType.A) {
    if (!net.isIPv4(a.data)) throw new CaptureError('E_DNS_CODEC', `A record for ${a.name}: "${a.data}" is not an IPv4 address`);
    w.u16(4);
    for (const part of a.data.split('.')) w.u8(Number(part));
  } else if (a.type === DnsType.AAAA) {
    if (!net.isIPv6(a.data)) throw new CaptureError('E_DNS_CODEC', `AAAA record for ${a.name}: "${a.data}" is not an IPv6 address`);
    w.u16(16);
    w.bytes(ipv6ToBytes(a.data));
  } else if (a.type === DnsType.CNAME) {
    const lenAt = w.len;
    w.u16(0);
    w.name(a.data);
    w.buf.writeUInt16BE(w.len - lenAt - 2, lenAt);
  } else {
    throw new CaptureError('E_DNS_CODEC', `cannot encode record type ${a.type}`);
  }
}

export function ipv6ToBytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** A response with only the header and question: SERVFAIL, FORMERR, or a truncated (TC) stand-in. */
export function encodeBareResponse(query: { header: DnsHeader; question?: DnsQuestion }, rcode: number, tc = false): Buffer {
  const header: DnsHeader = { ...query.header, qr: true, aa: false, tc, ra: true, ad: false, rcode };
  return encodeMessage(header, query.question ? [query.question] : [], []);
}

/** A standard query (RD set) for one name and type, optionally with an EDNS0 OPT record advertising udpSize. */
export function encodeQuery(id: number, name: string, type: number, opts: { udpSize?: number } = {}): Buffer {
  const header: DnsHeader = { id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0 };
  return encodeMessage(header, [{ name, type, class: DnsClass.IN }], [], { ednsUdpSize: opts.udpSize });
}
