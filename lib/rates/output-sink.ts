/** Output of the rates engine: rows are assembled in large buffers, which are written to the stream whole. */
import { WriteStream } from 'node:fs';

/** Output is handed to the stream in buffers of this size (one write per row would dominate the cost). */
const OUT_CHUNK_BYTES = 256 * 1024;
/**
 * Spare buffers kept for reuse. Backpressure bounds the buffers in flight (the stream's high-water mark over
 * OUT_CHUNK_BYTES, plus one), so this cap only matters for a stream with a very large high-water mark.
 */
const MAX_SPARE_BUFFERS = 8;

/**
 * Whether `stream` is done with a written buffer once that write's callback has run, so the buffer can be
 * filled again. True of a file stream (the callback runs after the bytes reached the file) and of a stream that says
 * so (`releasesWrittenBuffers`: the S3 upload of rates.csv copies each write into its part); not of a Transform or
 * PassThrough, which hands the very buffer on to its reader.
 */
export function releasesWrittenBuffers(stream: NodeJS.WritableStream): boolean {
  return (
    stream instanceof WriteStream || (stream as { releasesWrittenBuffers?: unknown }).releasesWrittenBuffers === true
  );
}

/** Collects output bytes into large buffers and writes them to the stream. */
export class OutputSink {
  buf: Buffer = Buffer.allocUnsafe(OUT_CHUNK_BYTES);
  len = 0;
  needDrain = false;
  /** Bytes handed to the stream so far (a parallel run's chunk reports them). */
  written = 0;

  /**
   * Buffers the stream has finished writing, filled again instead of allocating: a fresh 256 KiB buffer per
   * flush costs page faults on first touch and, as external memory, drives extra garbage collections.
   * Null when the stream may keep what it was given.
   */
  private readonly spare: Buffer[] | null;
  private readonly release = (buf: Buffer): void => {
    if (this.spare !== null && this.spare.length < MAX_SPARE_BUFFERS) this.spare.push(buf);
  };

  constructor(
    private readonly stream: NodeJS.WritableStream,
    { reuseBuffers = releasesWrittenBuffers(stream) }: { reuseBuffers?: boolean } = {},
  ) {
    this.spare = reuseBuffers ? [] : null;
  }

  /** Hands the current buffer to the stream; unless it is known to let go of it, a fresh one is used afterwards. */
  flush(minNext = 0): void {
    if (this.len > 0) {
      this.written += this.len;
      const full = this.buf;
      // Only standard-size buffers are reused; a larger one (for a huge row) is left to the collector.
      const done = this.spare !== null && full.length === OUT_CHUNK_BYTES ? () => this.release(full) : undefined;
      if (!this.stream.write(full.subarray(0, this.len), done)) this.needDrain = true;
    }
    const size = Math.max(OUT_CHUNK_BYTES, minNext);
    this.buf = (size === OUT_CHUNK_BYTES ? this.spare?.pop() : undefined) ?? Buffer.allocUnsafe(size);
    this.len = 0;
  }

  /** Makes room for `bytes` more at `len`, handing the current buffer to the stream if it has too little. */
  reserve(bytes: number): void {
    if (this.len + bytes > this.buf.length) this.flush(bytes);
  }

  /** Appends bytes (the header line, and the row kernel's output), filling the current buffer before handing it on. */
  append(bytes: Uint8Array): void {
    for (let from = 0; from < bytes.length; ) {
      if (this.len === this.buf.length) this.flush();
      const count = Math.min(bytes.length - from, this.buf.length - this.len);
      this.buf.set(bytes.subarray(from, from + count), this.len);
      this.len += count;
      from += count;
    }
  }

  async drain(): Promise<void> {
    if (!this.needDrain) return;
    this.needDrain = false;
    await waitForDrain(this.stream);
  }
}

/** Resolves once `stream` can take more (at once if it can now); rejects if it errors or closes first. */
export function waitForDrain(stream: NodeJS.WritableStream): Promise<void> {
  const s = stream as NodeJS.WritableStream & { destroyed?: boolean; writableNeedDrain?: boolean };
  if (s.destroyed === true)
    return Promise.reject(new Error('output stream was destroyed before the CSV was fully written'));
  if (s.writableNeedDrain === false) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('output stream closed before the CSV was fully written'));
    };
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
