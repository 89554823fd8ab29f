// Just enough DER reading to get at the signed part of a signed X.509 structure (certificate, CRL):
// SEQUENCE { toBeSigned, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1, §5.1).

export interface Tlv {
  tag: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the last content byte. */
  end: number;
  /** Offset of the tag byte. */
  offset: number;
}

export function readTlv(buf: Uint8Array, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new RangeError('DER: truncated header');
  const tag = buf[offset] as number;
  let len = buf[offset + 1] as number;
  let start = offset + 2;
  if (len >= 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) throw new RangeError('DER: unsupported length encoding');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  if (start + len > buf.length) throw new RangeError('DER: length runs past the end of the data');
  return { tag, start, end: start + len, offset };
}

/** The DER bytes that were signed and the signature bits of a signed structure. */
export function splitSigned(der: Uint8Array): { toBeSigned: Buffer; signature: Buffer } {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30) throw new RangeError('DER: not a SEQUENCE');
  const tbs = readTlv(der, outer.start);
  const alg = readTlv(der, tbs.end);
  const sig = readTlv(der, alg.end);
  if (sig.tag !== 0x03) throw new RangeError('DER: signatureValue is not a BIT STRING');
  return {
    toBeSigned: Buffer.from(der.subarray(tbs.offset, tbs.end)),
    // The first content byte of a BIT STRING counts unused bits; signatures always use 0.
    signature: Buffer.from(der.subarray(sig.start + 1, sig.end)),
  };
}
