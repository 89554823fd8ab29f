// PEM (RFC 7468) parsing that refuses what it does not understand, and says where: a certificate file
// with a stray line in it is usually a copy-paste accident that would otherwise surface much later as a
// TLS handshake failure.

export class PemError extends Error {
  readonly code = 'E_PEM_INVALID';
  constructor(
    message: string,
    readonly source?: string,
    readonly line?: number,
  ) {
    super(`${source ?? 'PEM input'}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'PemError';
  }
}

export interface PemBlock {
  label: string;
  der: Buffer;
  /** 1-based line of the BEGIN marker. */
  line: number;
}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----\s*$/;
const END = /^-----END ([A-Z0-9 ]+)-----\s*$/;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

function describe(text: string): string {
  const t = text.trim();
  return JSON.stringify(t.length > 40 ? `${t.slice(0, 40)}…` : t);
}

/** Every PEM block in `text`, in order. Only blank lines may appear between blocks. */
export function parsePemBlocks(text: string, source?: string): PemBlock[] {
  const lines = text.split(/\r?\n/);
  const blocks: PemBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      i++;
      continue;
    }
    const begin = BEGIN.exec(line.trim());
    if (!begin) throw new PemError(`unexpected text ${describe(line)} outside a PEM block (expected "-----BEGIN ...-----")`, source, i + 1);
    const label = begin[1] as string;
    const startLine = i + 1;
    const body: string[] = [];
    i++;
    for (;;) {
      if (i >= lines.length) throw new PemError(`"-----BEGIN ${label}-----" has no matching END line`, source, startLine);
      const l = (lines[i] ?? '').trim();
      const end = END.exec(l);
      if (end) {
        if (end[1] !== label) throw new PemError(`block opened as "${label}" but closed as "${end[1]}"`, source, i + 1);
        break;
      }
      if (l.includes(':'))
        throw new PemError(`encrypted or header-carrying PEM blocks are not supported (found ${describe(l)})`, source, i + 1);
      if (!BASE64_LINE.test(l)) throw new PemError(`invalid base64 ${describe(l)} inside "${label}" block`, source, i + 1);
      body.push(l);
      i++;
    }
    i++;
    const b64 = body.join('');
    if (b64.length === 0 || b64.length % 4 !== 0) throw new PemError(`"${label}" block has a truncated base64 body`, source, startLine);
    const der = Buffer.from(b64, 'base64');
    if (der[0] !== 0x30 || !derLengthMatches(der))
      throw new PemError(`"${label}" block does not hold a DER structure (truncated or corrupt)`, source, startLine);
    blocks.push({ label, der, line: startLine });
  }
  return blocks;
}

/** Splits a PEM bundle into one normalised PEM string per block; every block must carry `label`. */
export function splitPemBundle(text: string, label = 'CERTIFICATE', source?: string): string[] {
  const blocks = parsePemBlocks(text, source);
  if (blocks.length === 0) throw new PemError(`no "${label}" block found (the input is empty)`, source);
  for (const b of blocks) {
    if (b.label !== label) throw new PemError(`found a "${b.label}" block where "${label}" was expected`, source, b.line);
  }
  return blocks.map((b) => derToPem(b.der, label));
}

export function derToPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER body of a single-block PEM with the given label. */
export function pemToDer(pem: string, label: string, source?: string): Buffer {
  const blocks = parsePemBlocks(pem, source);
  if (blocks.length !== 1) throw new PemError(`expected exactly one "${label}" block, found ${blocks.length}`, source);
  const b = blocks[0] as PemBlock;
  if (b.label !== label) throw new PemError(`found a "${b.label}" block where "${label}" was expected`, source, b.line);
  return b.der;
}

/** Whether the outer DER TLV's length covers exactly the whole buffer. */
function derLengthMatches(der: Buffer): boolean {
  if (der.length < 2) return false;
  const first = der[1] as number;
  if (first < 0x80) return first + 2 === der.length;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || der.length < 2 + n) return false;
  let len = 0;
  for (let k = 0; k < n; k++) len = len * 256 + (der[2 + k] as number);
  return 2 + n + len === der.length;
}
