/** Output of the rates engine: rows are assembled in large buffers, which are written to the stream whole. */

/** Output is handed to the stream in buffers of this size (one write per row would dominate the cost). */
const OUT_CHUNK_BYTES = 256 * 1024;

/** Collects output bytes into large buffers and writes them to the stream. */
export class OutputSink {
  buf: Buffer = Buffer.allocUnsafe(OUT_CHUNK_BYTES);
  /** A view of `buf` for word-sized copies; made here so the hot loop never constructs one. */
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  len = 0;
  needDrain = false;
  /** Bytes handed to the stream so far (a parallel run's chunk reports them). */
  written = 0;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  /** Hands the current buffer to the stream; the stream may keep it, so a fresh one is used afterwards. */
  flush(minNext = 0): void {
    if (this.len > 0) {
      this.written += this.len;
      if (!this.stream.write(this.buf.subarray(0, this.len))) this.needDrain = true;
    }
    this.buf = Buffer.allocUnsafe(Math.max(OUT_CHUNK_BYTES, minNext));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.len = 0;
  }

  /** Makes room for `bytes` more at `len`, handing the current buffer to the stream if it has too little. */
  reserve(bytes: number): void {
    if (this.len + bytes > this.buf.length) this.flush(bytes);
  }

  /** Appends bytes (the header line: rows are written into `buf` directly by the engine's hot loop). */
  append(bytes: Buffer): void {
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.len);
    this.len += bytes.length;
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
