// The push budget: how many bytes of responses are in flight at once across all streams, as istiod's
// push throttle (PILOT_PUSH_THROTTLE) bounds the same thing by count. A response is in flight from its
// write until the proxy ACKs or NACKs it, its stream ends, or the in-flight timeout passes. A stream that
// does not fit waits its turn and then sends the latest content, so a first push of a large mesh to
// thousands of proxies never holds thousands of serialised responses in memory, while small incremental
// changes go to all of them at once. A response larger than the whole budget is sent when nothing else
// is in flight.

/** The budget one subscription holds while its response is unanswered. */
export interface InFlightSlot {
  /** Set while a response of this type holds part of the in-flight budget (until ACK/NACK, stream end or timeout). */
  inFlight?: NodeJS.Timeout;
  inFlightBytes?: number;
}

/** A stream as the throttle sees it: the types it has waiting for budget. */
export interface ThrottledStream {
  closed: boolean;
  /** Types waiting for in-flight budget. */
  queued: Set<string>;
}

export interface PushThrottleOptions {
  /** Bytes of responses in flight at once across all streams (default 64 MiB). */
  maxInFlightBytes?: number;
  /** How long one unanswered response may hold its place (default 15 s). */
  inFlightTimeoutMs?: number;
}

export class PushThrottle<S extends ThrottledStream> {
  private inFlightBytes = 0;
  private readonly waiting: S[] = [];
  private readonly budget: number;
  private readonly timeoutMs: number;

  /** `resume` responds, for a stream whose turn came, to the types it had waiting. */
  constructor(
    opts: PushThrottleOptions,
    private readonly resume: (stream: S, types: string[]) => void,
  ) {
    this.budget = opts.maxInFlightBytes ?? 64 * 1024 * 1024;
    this.timeoutMs = opts.inFlightTimeoutMs ?? 15_000;
  }

  /** Takes `bytes` of the in-flight budget for this type, or queues the stream; false when it has to wait. */
  take(conn: S, slot: InFlightSlot, typeUrl: string, bytes: number): boolean {
    // A response superseding one still unanswered takes over that one's share.
    const others = this.inFlightBytes - (slot.inFlightBytes ?? 0);
    if (others > 0 && others + bytes > this.budget) {
      // Its turn comes when the budget frees; it then sends whatever is current.
      if (conn.queued.size === 0) this.waiting.push(conn);
      conn.queued.add(typeUrl);
      return false;
    }
    if (slot.inFlight !== undefined) clearTimeout(slot.inFlight);
    this.inFlightBytes = others + bytes;
    slot.inFlightBytes = bytes;
    slot.inFlight = setTimeout(() => this.release(slot), this.timeoutMs);
    slot.inFlight.unref();
    return true;
  }

  /** Frees the budget a type's unanswered response holds, and hands it to waiting streams. */
  release(slot: InFlightSlot): void {
    if (slot.inFlight === undefined) return;
    clearTimeout(slot.inFlight);
    slot.inFlight = undefined;
    this.inFlightBytes -= slot.inFlightBytes ?? 0;
    slot.inFlightBytes = undefined;
    this.drain();
  }

  /** Gives the freed budget to waiting streams, oldest first. */
  private drain(): void {
    // First come, first served: when the stream at the head still does not fit, it goes back to the
    // head of the line and the drain stops until more budget frees.
    while (this.inFlightBytes < this.budget && this.waiting.length > 0) {
      const conn = this.waiting.shift() as S;
      const types = [...conn.queued];
      conn.queued.clear();
      if (conn.closed) continue;
      this.resume(conn, types);
      if (conn.queued.size > 0) {
        const i = this.waiting.lastIndexOf(conn);
        if (i >= 0) this.waiting.splice(i, 1);
        this.waiting.unshift(conn);
        break;
      }
    }
  }
}
