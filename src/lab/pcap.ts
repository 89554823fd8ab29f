// Just enough of the pcap format to look for plaintext in what tcpdump saw: the classic file header,
// per-packet records, link types Ethernet (1), Linux cooked v1 (113) and v2 (276), IPv4 and TCP.
// Payloads are joined per direction of each TCP flow in sequence order, so text split across segments
// is still found.

export interface TcpFlowData {
  src: string;
  dst: string;
  /** Payload bytes in sequence order, duplicates (retransmissions, -i any copies) dropped. */
  payload: Buffer;
}

export class PcapError extends Error {
  readonly code = 'E_PCAP';
}

function linkHeaderLength(linkType: number, pkt: Buffer): number | undefined {
  switch (linkType) {
    case 1: {
      // Ethernet, possibly one 802.1Q tag; only IPv4 (0x0800) is looked at.
      let off = 12;
      let type = pkt.readUInt16BE(off);
      if (type === 0x8100) {
        off += 4;
        type = pkt.readUInt16BE(off);
      }
      return type === 0x0800 ? off + 2 : undefined;
    }
    case 113:
      return pkt.readUInt16BE(14) === 0x0800 ? 16 : undefined;
    case 276:
      return pkt.readUInt16BE(0) === 0x0800 ? 20 : undefined;
    case 101: // raw IP
      return 0;
    default:
      return undefined;
  }
}

/** Parses a pcap file's bytes into TCP flows (key `src>dst` with `ip:port`). */
export function tcpFlowsFromPcap(buf: Buffer): Map<string, TcpFlowData> {
  if (buf.length < 24) return new Map();
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new PcapError(`not a pcap file (magic 0x${magic.toString(16)})`);
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20) & 0xffff;
  const segments = new Map<string, Map<number, Buffer>>();
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    const start = off + 16;
    off = start + incl;
    if (off > buf.length) break; // a capture cut short by SIGTERM: the last record is partial
    const pkt = buf.subarray(start, start + incl);
    if (pkt.length < 20) continue;
    const l2 = linkHeaderLength(linkType, pkt);
    if (l2 === undefined || pkt.length < l2 + 20) continue;
    const ip = pkt.subarray(l2);
    if (ip[0]! >> 4 !== 4 || ip[9] !== 6) continue;
    const ihl = (ip[0]! & 0x0f) * 4;
    const totalLen = ip.readUInt16BE(2);
    const tcp = ip.subarray(ihl, Math.min(totalLen, ip.length));
    if (tcp.length < 20) continue;
    const dataOff = (tcp[12]! >> 4) * 4;
    const payload = tcp.subarray(dataOff);
    if (payload.length === 0) continue;
    const src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}:${tcp.readUInt16BE(0)}`;
    const dst = `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}:${tcp.readUInt16BE(2)}`;
    const key = `${src}>${dst}`;
    let segs = segments.get(key);
    if (!segs) segments.set(key, (segs = new Map()));
    const seq = tcp.readUInt32BE(4);
    const prev = segs.get(seq);
    if (!prev || prev.length < payload.length) segs.set(seq, Buffer.from(payload));
  }
  const flows = new Map<string, TcpFlowData>();
  for (const [key, segs] of segments) {
    const [src, dst] = key.split('>') as [string, string];
    // Sequence order; wrap-around within a short verify capture is unlikely and only affects ordering.
    const ordered = [...segs.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
    flows.set(key, { src, dst, payload: Buffer.concat(ordered) });
  }
  return flows;
}
