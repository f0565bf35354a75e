/** A writable that keeps a copy of everything written to it (the caller may reuse what it wrote), for reading back. */
import { Writable } from 'node:stream';

export class Collector extends Writable {
  readonly parts: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.parts.push(Buffer.from(chunk));
    cb();
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
