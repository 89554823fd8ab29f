// The tls_inspector listener filter (envoy.filters.listener.tls_inspector): looks at the first bytes a
// client sends and tells TLS from anything else; for TLS it extracts the SNI and ALPN list from the
// ClientHello so that filter-chain selection can use them. The bytes are not consumed: the caller
// hands them back to the socket (unshift) before TLS starts. Like Envoy, the ClientHello may span
// several TLS records, and anything larger than MAX_CLIENT_HELLO is refused instead of buffered.

/** Envoy's limit on a ClientHello (tls_inspector `max_client_hello_size` default 64 KiB). */
export const MAX_CLIENT_HELLO = 64 * 1024;

export type InspectResult =
  | { kind: 'need-more' }
  | { kind: 'raw' }
  | { kind: 'tls'; serverName: string; alpn: string[]; recordVersion: number; clientVersion: number }
  | { kind: 'too-large' };

const NEED_MORE: InspectResult = { kind: 'need-more' };
const RAW: InspectResult = { kind: 'raw' };
const TOO_LARGE: InspectResult = { kind: 'too-large' };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;

/**
 * Inspects the bytes received so far. Returns 'need-more' until the whole ClientHello is there, 'raw'
 * when the bytes cannot be the start of a TLS ClientHello (plaintext, garbage), 'tls' with SNI/ALPN.
 */
export function inspectClientHello(buf: Buffer): InspectResult {
  if (buf.length < 1) return NEED_MORE;
  if (buf[0] !== RECORD_HANDSHAKE) return RAW;
  if (buf.length < 2) return NEED_MORE;
  if (buf[1] !== 0x03) return RAW;
  if (buf.length < 6) return NEED_MORE;
  const recordVersion = buf.readUInt16BE(1);
  // Reassemble the handshake message from consecutive handshake records.
  let handshake: Buffer | undefined;
  let off = 0;
  let needed = -1;
  const parts: Buffer[] = [];
  let have = 0;
  while (true) {
    if (off + 5 > buf.length) return buf.length > MAX_CLIENT_HELLO + 5 * 16 ? TOO_LARGE : NEED_MORE;
    if (buf[off] !== RECORD_HANDSHAKE || buf[off + 1] !== 0x03) return RAW;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 2048) return RAW;
    if (off + 5 + len > buf.length) {
      if (buf.length > MAX_CLIENT_HELLO + 5 * 16) return TOO_LARGE;
      // Part of a record is enough to learn the handshake length and refuse early if too large.
      if (needed < 0 && off === 0 && buf.length >= 9) {
        if (buf[5] !== HANDSHAKE_CLIENT_HELLO) return RAW;
        if (buf.readUIntBE(6, 3) > MAX_CLIENT_HELLO) return TOO_LARGE;
      }
      return NEED_MORE;
    }
    const frag = buf.subarray(off + 5, off + 5 + len);
    parts.push(frag);
    have += len;
    off += 5 + len;
    if (needed < 0 && have >= 4) {
      const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return RAW;
      needed = 4 + head.readUIntBE(1, 3);
      if (needed > MAX_CLIENT_HELLO) return TOO_LARGE;
    }
    if (needed >= 0 && have >= needed) {
      handshake = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
      break;
    }
  }
  return parseClientHelloBody(handshake.subarray(4, needed), recordVersion);
}

function parseClientHelloBody(b: Buffer, recordVersion: number): InspectResult {
  if (b.length < 2 + 32 + 1) return RAW;
  const clientVersion = b.readUInt16BE(0);
  let p = 2 + 32;
  const sidLen = b[p]!;
  p += 1 + sidLen;
  if (p + 2 > b.length) return RAW;
  p += 2 + b.readUInt16BE(p); // cipher suites
  if (p + 1 > b.length) return RAW;
  p += 1 + b[p]!; // compression methods
  let serverName = '';
  const alpn: string[] = [];
  if (p + 2 <= b.length) {
    const extEnd = p + 2 + b.readUInt16BE(p);
    p += 2;
    if (extEnd > b.length) return RAW;
    while (p + 4 <= extEnd) {
      const type = b.readUInt16BE(p);
      const len = b.readUInt16BE(p + 2);
      const start = p + 4;
      const end = start + len;
      if (end > extEnd) return RAW;
      if (type === EXT_SERVER_NAME && len >= 2) {
        let q = start + 2;
        while (q + 3 <= end) {
          const nameType = b[q]!;
          const nameLen = b.readUInt16BE(q + 1);
          if (q + 3 + nameLen > end) return RAW;
          if (nameType === 0 && serverName === '') serverName = b.toString('latin1', q + 3, q + 3 + nameLen).toLowerCase();
          q += 3 + nameLen;
        }
      } else if (type === EXT_ALPN && len >= 2) {
        let q = start + 2;
        while (q < end) {
          const l = b[q]!;
          if (q + 1 + l > end) return RAW;
          alpn.push(b.toString('latin1', q + 1, q + 1 + l));
          q += 1 + l;
        }
      }
      p = end;
    }
  }
  return { kind: 'tls', serverName, alpn, recordVersion, clientVersion };
}
