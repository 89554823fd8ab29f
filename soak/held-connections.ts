// Long-lived connections through a chain to an echo server, each checked end to end: every byte a
// connection sends is hashed (SHA-256, incrementally) and so is every byte that comes back; after each
// exchange the two digests must match. A connection that closes or errors before its echo is complete
// is counted as dropped, with the bytes it had not got back as lost.
import net from 'node:net';
import { createHash, randomBytes, type Hash } from 'node:crypto';

export class HeldConnectionError extends Error {
  readonly code = 'E_SOAK_CONNECTION';
}

interface Held {
  id: number;
  sock: net.Socket;
  sentHash: Hash;
  recvHash: Hash;
  sent: number;
  received: number;
  closed: boolean;
  /** How it ended: 'reset' (ECONNRESET/EPIPE), 'closed' (FIN), or an error code. */
  endedBy?: string;
  endedAt?: number;
  waiter?: () => void;
}

export interface ExchangeResult {
  connections: number;
  intact: number;
  dropped: number;
  mismatched: number;
  bytesSent: number;
  bytesLost: number;
}

export class HeldConnections {
  private readonly conns: Held[] = [];
  openFailures = 0;
  readonly openErrors: string[] = [];
  bytesSent = 0;
  bytesEchoed = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  get size(): number {
    return this.conns.filter((c) => !c.closed).length;
  }

  all(): readonly { id: number; closed: boolean; endedBy?: string; endedAt?: number }[] {
    return this.conns;
  }

  /** Opens `count` connections, `concurrency` at a time, each proven with a first hashed echo of `firstBytes`. */
  async open(
    count: number,
    opts: { concurrency?: number; firstBytes?: number; timeoutMs?: number; maxSeconds?: number } = {},
  ): Promise<{ opened: number; failed: number }> {
    const deadline = Date.now() + (opts.maxSeconds ?? 300) * 1000;
    let next = 0;
    let opened = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      while (next < count && Date.now() < deadline) {
        next++;
        try {
          const c = await this.connect(opts.timeoutMs ?? 15_000);
          const r = await this.exchangeOne(c, opts.firstBytes ?? 1024, opts.timeoutMs ?? 15_000);
          if (!r) throw new HeldConnectionError(`connection ${c.id}: the first echo did not come back intact`);
          opened++;
        } catch (err) {
          failed++;
          this.openFailures++;
          if (this.openErrors.length < 5) this.openErrors.push((err as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 64 }, () => worker()));
    return { opened, failed };
  }

  private connect(timeoutMs: number): Promise<Held> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: this.target.host, port: this.target.port });
      const c: Held = {
        id: this.conns.length,
        sock,
        sentHash: createHash('sha256'),
        recvHash: createHash('sha256'),
        sent: 0,
        received: 0,
        closed: false,
      };
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new HeldConnectionError(`connect to ${this.target.host}:${this.target.port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.setNoDelay(true);
      sock.on('data', (d: Buffer) => {
        c.recvHash.update(d);
        c.received += d.length;
        this.bytesEchoed += d.length;
        if (c.received >= c.sent) c.waiter?.();
      });
      const ended = (how: string): void => {
        if (c.closed) return;
        c.closed = true;
        c.endedBy = how;
        c.endedAt = Date.now();
        c.waiter?.();
      };
      sock.on('error', (e: NodeJS.ErrnoException) =>
        ended(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : (e.code ?? e.message)),
      );
      sock.on('end', () => ended('closed'));
      sock.on('close', () => ended('closed'));
      sock.once('connect', () => {
        clearTimeout(timer);
        this.conns.push(c);
        resolve(c);
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new HeldConnectionError(`connect to ${this.target.host}:${this.target.port}: ${e.message}`));
      });
    });
  }

  /** Sends `bytes` random bytes on one connection and waits for them to come back; true when the digests match. */
  private async exchangeOne(c: Held, bytes: number, timeoutMs: number): Promise<boolean> {
    if (c.closed) return false;
    const data = randomBytes(bytes);
    c.sentHash.update(data);
    c.sent += data.length;
    this.bytesSent += data.length;
    const got = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        c.waiter = undefined;
        resolve();
      }, timeoutMs);
      c.waiter = (): void => {
        if (c.received >= c.sent || c.closed) {
          clearTimeout(timer);
          c.waiter = undefined;
          resolve();
        }
      };
    });
    c.sock.write(data);
    await got;
    if (c.received !== c.sent) return false;
    return c.sentHash.copy().digest('hex') === c.recvHash.copy().digest('hex');
  }

  /** One more hashed echo of `bytes` on every connection still open, `concurrency` at a time. */
  async exchange(bytes: number, opts: { concurrency?: number; timeoutMs?: number } = {}): Promise<ExchangeResult> {
    const r: ExchangeResult = { connections: 0, intact: 0, dropped: 0, mismatched: 0, bytesSent: 0, bytesLost: 0 };
    const list = this.conns.filter((c) => !c.closed);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < list.length) {
        const c = list[next++]!;
        r.connections++;
        const ok = await this.exchangeOne(c, bytes, opts.timeoutMs ?? 15_000);
        r.bytesSent += bytes;
        if (ok) r.intact++;
        else if (c.closed) {
          r.dropped++;
          r.bytesLost += c.sent - c.received;
        } else {
          r.mismatched++;
          r.bytesLost += Math.max(0, c.sent - c.received);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 256, Math.max(1, list.length)) }, () => worker()));
    return r;
  }

  /** Connections that ended (by the peer) so far, by how. */
  endings(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.conns) if (c.closed && c.endedBy) out[c.endedBy] = (out[c.endedBy] ?? 0) + 1;
    return out;
  }

  async closeAll(): Promise<void> {
    await Promise.all(
      this.conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.sock.destroyed) return resolve();
            c.sock.once('close', () => resolve());
            c.sock.destroy();
          }),
      ),
    );
  }
}
