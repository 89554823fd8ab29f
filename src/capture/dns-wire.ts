// The DNS wire format (RFC 1035 §4, EDNS0 from RFC 6891) for the sidecar's DNS proxy, on dns-packet:
// it parses messages (compression pointers only backwards, so no loops) and encodes every record. What
// this file adds: numeric types and classes, errors as CaptureError E_DNS_CODEC, label and name length
// checks (dns-packet writes what it is given), and, because dns-packet does not compress names, the
// whole-name compression and whole-record truncation a response needs to fit UDP's 512 bytes.
import { createRequire } from 'node:module';
import net from 'node:net';
import packet from 'dns-packet';
import { CaptureError } from './errors.js';

const require = createRequire(import.meta.url);
/** dns-packet's own type and class tables (names ↔ numbers), which its typings do not declare. */
const typeTable = require('dns-packet/types') as { toString(type: number): string; toType(name: string): number };
const classTable = require('dns-packet/classes') as { toString(klass: number): string; toClass(name: string): number };
/** dns-packet's name codec, exported beside encode/decode since 5.x but not in its typings. */
const nameCodec = (
  packet as unknown as { name: { decode: ((buf: Buffer, offset: number, opts?: { mail?: boolean }) => string) & { bytes: number } } }
).name;

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

/** dns-packet's parse errors in this project's words (its RangeErrors mean "runs past the end"). */
function decodeFailure(err: unknown): never {
  if (err instanceof CaptureError) throw err;
  const m = (err as Error).message;
  if (/bad pointer/.test(m)) fail('bad compression pointer (it must point to an earlier name, RFC 1035 §4.1.4)');
  if (/name too long/.test(m)) fail('name longer than 255 octets');
  if (/bad label/.test(m)) fail('unsupported label type');
  if (/overflow|out of range|beyond buffer|outside buffer/i.test(m) || err instanceof RangeError) fail('runs past the end');
  fail(m);
}

/** dns-packet's name ('.' for the root) as this module gives it: no trailing dot, '' for the root. */
function plainName(name: string): string {
  return name === '.' ? '' : name;
}

function typeNumber(name: string): number {
  return typeTable.toType(name);
}

function classNumber(name: string | number | undefined): number {
  if (typeof name === 'number') return name;
  if (name === undefined) return DnsClass.IN;
  const unknown = /^UNKNOWN_(\d+)$/.exec(name);
  return unknown ? Number(unknown[1]) : classTable.toClass(name);
}

/** Reads a domain name at offset; returns it (no trailing dot, '' for the root) and where the name ends in place. */
export function readName(buf: Buffer, offset: number): { name: string; next: number } {
  try {
    const name = nameCodec.decode(buf, offset);
    const next = offset + nameCodec.decode.bytes;
    // A label with a dot inside would read as two labels: refuse it rather than answer for another name.
    if (nameCodec.decode(buf, offset, { mail: true }) !== name) fail('a label contains "."');
    return { name: plainName(name), next };
  } catch (err) {
    return decodeFailure(err);
  }
}

function headerOf(flags: number, id: number): DnsHeader {
  return {
    id,
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
  if (buf.length < 12) fail(`${buf.length} bytes is shorter than the 12-byte header`);
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(buf);
  } catch (err) {
    return decodeFailure(err);
  }
  // The question names again through readName, which refuses a dot inside a label.
  let pos = 12;
  for (let i = 0; i < (decoded.questions?.length ?? 0); i++) pos = readName(buf, pos).next + 4;
  const record = (a: packet.Answer): DnsRecord => {
    if (a.type === 'OPT')
      return {
        name: plainName(a.name),
        type: DnsType.OPT,
        class: a.udpPayloadSize,
        ttl: ((a.extendedRcode << 24) | (a.ednsVersion << 16) | a.flags) >>> 0,
      };
    const r: DnsRecord = { name: plainName(a.name), type: typeNumber(a.type), class: classNumber(a.class), ttl: a.ttl ?? 0 };
    if (a.type === 'AAAA') r.data = canonicalIpv6(a.data);
    else if (a.type === 'A') r.data = a.data;
    else if (a.type === 'CNAME' || a.type === 'NS' || a.type === 'PTR') r.data = plainName(a.data);
    return r;
  };
  return {
    header: headerOf((decoded.flags ?? 0) | (decoded.type === 'response' ? 0x8000 : 0), decoded.id ?? 0),
    questions: (decoded.questions ?? []).map((q) => ({ name: plainName(q.name), type: typeNumber(q.type), class: classNumber(q.class) })),
    answers: (decoded.answers ?? []).map(record),
    authorities: (decoded.authorities ?? []).map(record),
    additionals: (decoded.additionals ?? []).map(record),
  };
}

/** Only the header and the first question: enough to route a query without trusting the rest. */
export function decodeQuery(buf: Buffer): { header: DnsHeader; question?: DnsQuestion; udpSize: number; hasOpt: boolean } {
  const msg = decodeMessage(buf);
  const opt = msg.additionals.find((r) => r.type === DnsType.OPT);
  return {
    header: msg.header,
    question: msg.questions[0],
    udpSize: opt ? Math.max(DNS_MIN_UDP_SIZE, opt.class) : DNS_MIN_UDP_SIZE,
    hasOpt: opt !== undefined,
  };
}

/** RFC 5952 text for an IPv6 address (zeros compressed, lower case), as Node's URL parser writes it. */
function canonicalIpv6(address: string): string {
  return new URL(`http://[${address}]`).hostname.slice(1, -1);
}

/** A record to put in a response. */
export interface DnsAnswer {
  name: string;
  type: number;
  ttl: number;
  /** An IPv4 address (A), IPv6 address (AAAA) or a domain name (CNAME). */
  data: string;
}

/** RFC 1035 §2.3.4: labels of 1-63 octets, names of at most 255; dns-packet would write anything. */
function checkName(name: string): void {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return;
  let octets = 1;
  for (const label of trimmed.split('.')) {
    const n = Buffer.byteLength(label);
    if (n === 0 || n > 63) throw new CaptureError('E_DNS_CODEC', `cannot encode name "${name}": label "${label}" must be 1-63 octets`);
    octets += n + 1;
  }
  if (octets > 255) throw new CaptureError('E_DNS_CODEC', `cannot encode name "${name}": longer than 255 octets`);
}

function flagsOf(h: DnsHeader): number {
  return (
    (h.qr ? 0x8000 : 0) |
    ((h.opcode & 0xf) << 11) |
    (h.aa ? 0x0400 : 0) |
    (h.tc ? 0x0200 : 0) |
    (h.rd ? 0x0100 : 0) |
    (h.ra ? 0x0080 : 0) |
    (h.ad ? 0x0020 : 0) |
    (h.cd ? 0x0010 : 0) |
    (h.rcode & 0xf)
  );
}

/** One record's bytes as dns-packet encodes them (owner name uncompressed), without the header. */
function recordBytes(a: packet.Answer): Buffer {
  return packet.encode({ answers: [a] }).subarray(12);
}

function toPacketAnswer(a: DnsAnswer): packet.Answer {
  if (a.type === DnsType.A) {
    if (!net.isIPv4(a.data)) throw new CaptureError('E_DNS_CODEC', `A record for ${a.name}: "${a.data}" is not an IPv4 address`);
    return { type: 'A', name: a.name, ttl: a.ttl, class: 'IN', data: a.data };
  }
  if (a.type === DnsType.AAAA) {
    if (!net.isIPv6(a.data)) throw new CaptureError('E_DNS_CODEC', `AAAA record for ${a.name}: "${a.data}" is not an IPv6 address`);
    return { type: 'AAAA', name: a.name, ttl: a.ttl, class: 'IN', data: a.data };
  }
  if (a.type === DnsType.CNAME) {
    checkName(a.data);
    return { type: 'CNAME', name: a.name, ttl: a.ttl, class: 'IN', data: a.data };
  }
  throw new CaptureError('E_DNS_CODEC', `cannot encode record type ${a.type}`);
}

export interface EncodeOptions {
  /** Truncate (and set TC) so the message fits; answers that do not fit are dropped whole. */
  maxSize?: number;
  /** Add an OPT record advertising this UDP size (when the query had one). */
  ednsUdpSize?: number;
}

/** Builds a message from a header, questions and answers (A, AAAA, CNAME). */
export function encodeMessage(header: DnsHeader, questions: DnsQuestion[], answers: DnsAnswer[], opts: EncodeOptions = {}): Buffer {
  const parts: Buffer[] = [Buffer.alloc(12)];
  let len = 12;
  // Where each whole name (lower case, no trailing dot) was first written, for compression pointers.
  const names = new Map<string, number>();
  const key = (name: string): string => (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
  const remember = (name: string, at: number): void => {
    if (key(name) !== '' && at < 0x3fff && !names.has(key(name))) names.set(key(name), at);
  };
  for (const q of questions) {
    checkName(q.name);
    const bytes = Buffer.from(packet.encode({ questions: [{ name: q.name, type: 'A' }] }).subarray(12));
    // Type and class as numbers, whatever dns-packet's tables know.
    bytes.writeUInt16BE(q.type, bytes.length - 4);
    bytes.writeUInt16BE(q.class, bytes.length - 2);
    remember(q.name, len);
    parts.push(bytes);
    len += bytes.length;
  }
  const optSize = opts.ednsUdpSize !== undefined ? 11 : 0;
  const limit = (opts.maxSize ?? DNS_MAX_MESSAGE) - optSize;
  if (len > limit) fail('the question alone is larger than the size limit');
  let written = 0;
  let tc = header.tc;
  for (const a of answers) {
    checkName(a.name);
    const full = recordBytes(toPacketAnswer(a));
    const ownerLength = key(a.name) === '' ? 1 : Buffer.byteLength(key(a.name)) + 2;
    const at = names.get(key(a.name));
    let bytes = full;
    if (at !== undefined) {
      // RFC 1035 §4.1.4: the owner name becomes a pointer to where that name was written before.
      bytes = Buffer.alloc(2 + full.length - ownerLength);
      bytes.writeUInt16BE(0xc000 | at, 0);
      full.copy(bytes, 2, ownerLength);
    }
    if (len + bytes.length > limit) {
      tc = true;
      break;
    }
    if (at === undefined) remember(a.name, len);
    // A CNAME's target, right after the fixed fields, is a name later owners can point at.
    if (a.type === DnsType.CNAME) remember(a.data, len + bytes.length - (Buffer.byteLength(key(a.data)) + (key(a.data) === '' ? 1 : 2)));
    parts.push(bytes);
    len += bytes.length;
    written++;
  }
  let additional = 0;
  if (opts.ednsUdpSize !== undefined) {
    parts.push(
      recordBytes({
        type: 'OPT',
        name: '.',
        udpPayloadSize: opts.ednsUdpSize,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      }),
    );
    additional = 1;
  }
  const out = Buffer.concat(parts);
  out.writeUInt16BE(header.id, 0);
  out.writeUInt16BE(flagsOf({ ...header, tc }), 2);
  out.writeUInt16BE(questions.length, 4);
  out.writeUInt16BE(written, 6);
  out.writeUInt16BE(additional, 10);
  return out;
}

/** The 16 bytes of an IPv6 address (any text form Node accepts, including an embedded IPv4 tail). */
export function ipv6ToBytes(address: string): Buffer {
  const bytes = recordBytes({ type: 'AAAA', name: '.', data: address });
  return Buffer.from(bytes.subarray(bytes.length - 16));
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
