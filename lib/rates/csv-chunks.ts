/**
 * Turns the input's chunks into buffers of whole records for the engine. The first PROBE_BYTES are held back
 * until sniff.ts has seen that they are text; after that each chunk is handed over in place, and only a
 * record cut by a chunk boundary is copied (into `store`) to be completed by the next chunk.
 */
import { NL } from './csv-tokenizer.ts';
import { emptyFileError } from './errors.ts';
import { checkCsvText, PROBE_BYTES } from './sniff.ts';

/** What the framer feeds (the rates engine). */
export interface RecordConsumer {
  /**
   * Consumes the complete records of `buf` from `from` (all of it when `final`); returns where the rest starts.
   * `at` is the stream position of `buf[0]`: bytes pushed before it, counting from the framer's `start`.
   */
  consume(buf: Buffer, from: number, final: boolean, at: number): Promise<number>;
  /** True while input is being discarded up to the next \n (the rest of an over-long line). */
  readonly skipping: boolean;
  /** The \n that ends the discarded line has arrived. */
  endSkip(): void;
}

export interface FramerOptions {
  /** Sniff the first bytes for binary data and drop a BOM (default): only a whole file's start has them. */
  probe?: boolean;
  /** Stream position of the first byte pushed (a byte range's offset in its file; default 0). */
  start?: number;
}

export class ChunkFramer {
  inputBytes = 0;

  /** Still holding back the first bytes for the binary sniff. */
  private probing: boolean;
  /** Stream position of the next byte pushed. */
  private pushedTo: number;
  /** Bytes not yet consumed (an incomplete record, or everything during the probe). */
  private store: Buffer = Buffer.allocUnsafe(0);
  private storeLen = 0;
  /** Stream position of `store[0]`. */
  private storeAt = 0;

  constructor(
    private readonly consumer: RecordConsumer,
    { probe = true, start = 0 }: FramerOptions = {},
  ) {
    this.probing = probe;
    this.pushedTo = start;
  }

  async push(chunk: Buffer): Promise<void> {
    this.inputBytes += chunk.length;
    const at = this.pushedTo;
    this.pushedTo += chunk.length;
    await this.feed(chunk, at);
  }

  private async feed(chunk: Buffer, at: number): Promise<void> {
    if (chunk.length === 0) return;
    if (this.consumer.skipping) {
      const nl = chunk.indexOf(NL);
      if (nl === -1) return;
      this.consumer.endSkip();
      chunk = chunk.subarray(nl + 1);
      at += nl + 1;
      if (chunk.length === 0) return;
    }
    if (this.probing) {
      this.append(chunk, at);
      // Strictly more than the window, so the window never ends in a character cut off by the chunking.
      if (this.storeLen <= PROBE_BYTES) return;
      this.probe();
      await this.consumeStore(false);
      return;
    }
    let from = 0;
    if (this.storeLen > 0) {
      // Complete the pending record with the chunk's first line only, so the bulk of the chunk is parsed
      // in place instead of being copied behind the leftover.
      const nl = chunk.indexOf(NL);
      if (nl === -1) {
        this.append(chunk, at);
        await this.consumeStore(false);
        return;
      }
      this.append(chunk.subarray(0, nl + 1), at);
      await this.consumeStore(false);
      const rest = chunk.subarray(nl + 1);
      if (this.consumer.skipping) {
        await this.feed(rest, at + nl + 1);
        return;
      }
      if (this.storeLen > 0) {
        // Still inside a quoted multi-line record: it needs the rest of the chunk behind it.
        this.append(rest, at + nl + 1);
        await this.consumeStore(false);
        return;
      }
      from = nl + 1;
    }
    const pos = await this.consumer.consume(chunk, from, false, at);
    if (pos < chunk.length && !this.consumer.skipping) this.append(chunk.subarray(pos), at + pos);
  }

  /** At end of input: sniffs what is held if the probe has not run yet, then hands over the last records. */
  async end(): Promise<void> {
    if (this.probing) {
      if (this.inputBytes === 0) throw emptyFileError('zero-bytes');
      this.probe();
    }
    if (this.storeLen > 0 && !this.consumer.skipping) await this.consumeStore(true);
  }

  /** Appends to the store; `at` is the stream position of `chunk[0]` (it becomes `storeAt` if the store is empty). */
  private append(chunk: Buffer, at: number): void {
    if (this.storeLen === 0) this.storeAt = at;
    const need = this.storeLen + chunk.length;
    if (need > this.store.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.store.length * 2, 64 * 1024));
      this.store.copy(bigger, 0, 0, this.storeLen);
      this.store = bigger;
    }
    chunk.copy(this.store, this.storeLen);
    this.storeLen = need;
  }

  private async consumeStore(final: boolean): Promise<void> {
    const work = this.store.subarray(0, this.storeLen);
    const pos = await this.consumer.consume(work, 0, final, this.storeAt);
    if (this.consumer.skipping || final) {
      this.storeLen = 0;
    } else {
      this.store.copyWithin(0, pos, this.storeLen);
      this.storeLen -= pos;
      this.storeAt += pos;
    }
  }

  /** Rejects binary uploads before anything is parsed, and drops a UTF-8 BOM. */
  private probe(): void {
    const bom = checkCsvText(this.store.subarray(0, this.storeLen));
    if (bom > 0) {
      this.store.copyWithin(0, bom, this.storeLen);
      this.storeLen -= bom;
      this.storeAt += bom;
    }
    this.probing = false;
  }
}
