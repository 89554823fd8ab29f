// Writes one ADS stream's serialised responses one at a time: each is written when the previous one has
// reached the socket, so the TLS layer is never handed more than one response at a time (Node's TLS
// layer keeps, per connection, an output buffer as large as the largest single write it was given).

export interface BufferWritable {
  write(message: Buffer, cb: () => void): boolean;
}

export class StreamWriter {
  /** Serialised responses waiting for the one being written. */
  private readonly out: Buffer[] = [];
  private writing = false;

  /** `isClosed` says whether the stream has ended; what is still waiting then is dropped. */
  constructor(
    private readonly call: BufferWritable,
    private readonly isClosed: () => boolean,
  ) {}

  send(message: Buffer): void {
    this.out.push(message);
    if (!this.writing) this.writeNext();
  }

  private writeNext(): void {
    const message = this.out.shift();
    if (message === undefined || this.isClosed()) {
      this.writing = false;
      this.out.length = 0;
      return;
    }
    this.writing = true;
    this.call.write(message, () => this.writeNext());
  }
}
