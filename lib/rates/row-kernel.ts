/**
 * The rates engine's row kernel (lib/rates/wasm/rows.ts, compiled to WebAssembly): takes the plain rows of a chunk —
 * no quote byte, both wanted fields plain decimals, a finite rate — and stops at any other record, which the engine's
 * careful path (rates-engine.ts) then reads. This side copies the input into the module's memory a window at a time,
 * and hands what the kernel wrote on: the output bytes to the output sink, the rates to the statistics.
 *
 * One instance per process, shared by every engine in it (a parallel run's chunks may interleave at their awaits):
 * the input window is reloaded whenever another engine, another buffer or a position outside it comes.
 */
import { loadWasmModule, type WasmMemory } from '../wasm-module.ts';
import type { OutputSink } from './output-sink.ts';

/** Relative to the project root (and to the Lambda package's root). */
export const ROWS_WASM_PATH = 'lib/rates/wasm/build/rows.wasm';

interface RowsExports {
  memory: WasmMemory;
  heapBase(): number;
  state(): number;
  printRates(values: number, count: number, out: number): number;
  run(
    input: number,
    start: number,
    end: number,
    limit: number,
    out: number,
    outAt: number,
    outCap: number,
    values: number,
    valuesAt: number,
    valuesCap: number,
    numIdx: number,
    denIdx: number,
  ): number;
}

/** Where the kernel's rates go (the engine's RateSink). */
export interface RateBlockSink {
  /** `values` in row order (all finite; reused by the caller afterwards), and their smallest and largest. */
  addMany(values: Float64Array, min: number, max: number): void;
}

/** `run`'s answers (lib/rates/wasm/rows.ts). */
const DONE = 0;
const OUTPUT_FULL = 1;
const VALUES_FULL = 2;
const CAREFUL = 3;
const WINDOW_END = 4;

/** What `RowKernel.run` tells the engine. */
export type RowKernelStop =
  /** Every record starting before the limit was taken. */
  | 'done'
  /** The record at `next` needs the careful path. */
  | 'careful'
  /** The output sink wants to drain first. */
  | 'drain';

/** Input copied into the module per window: rows never cross one (a row at its end starts the next). */
const INPUT_WINDOW = 1024 * 1024;
/** The kernel reads 16 bytes at a time, up to 15 past the window's end. */
const INPUT_OVERHANG = 16;
/** Output per call: the kernel returns once less than a longest row (64 KiB) plus 64 bytes is left. */
const OUTPUT_BYTES = 512 * 1024;
const VALUES_PER_CALL = 32 * 1024;
const PAGE = 65536;
const align16 = (n: number): number => Math.ceil(n / 16) * 16;

export class RowKernel {
  /** After `run`: where it stopped, and the lines and rows it passed. */
  next = 0;
  lines = 0;
  rows = 0;

  private readonly input: number;
  private readonly output: number;
  private readonly values: number;
  private readonly inputBytes: Uint8Array;
  private readonly outputBytes: Uint8Array;
  private readonly valueArray: Float64Array;
  private readonly state: Int32Array;
  private readonly extremes: Float64Array;

  private owner: object | null = null;
  private windowOf: Uint8Array | null = null;
  private windowStart = 0;
  private windowEnd = 0;

  constructor(private readonly wasm: RowsExports) {
    this.input = align16(wasm.heapBase());
    this.output = align16(this.input + INPUT_WINDOW + INPUT_OVERHANG);
    this.values = align16(this.output + OUTPUT_BYTES);
    const end = this.values + VALUES_PER_CALL * 8;
    const have = wasm.memory.buffer.byteLength;
    if (end > have) wasm.memory.grow(Math.ceil((end - have) / PAGE));
    const memory = wasm.memory.buffer;
    this.inputBytes = new Uint8Array(memory, this.input, INPUT_WINDOW + INPUT_OVERHANG);
    this.outputBytes = new Uint8Array(memory, this.output, OUTPUT_BYTES);
    this.valueArray = new Float64Array(memory, this.values, VALUES_PER_CALL);
    this.state = new Int32Array(memory, wasm.state(), 5);
    this.extremes = new Float64Array(memory, wasm.state() + 24, 2);
  }

  /** Forgets the window: the caller's buffer may hold other bytes from now on. */
  release(owner: object): void {
    if (this.owner === owner) this.windowOf = null;
  }

  /**
   * Takes the plain rows of `buf` from `start` that start before `limit`, fields numIdx / denIdx (0-based), writing
   * their output to `sink` and their rates to `rates`; sets `next`, `lines` and `rows`.
   */
  run(
    owner: object,
    buf: Uint8Array,
    start: number,
    limit: number,
    numIdx: number,
    denIdx: number,
    sink: OutputSink,
    rates: RateBlockSink,
  ): RowKernelStop {
    const { wasm, state } = this;
    let s = start;
    let lines = 0;
    let rows = 0;
    let stop: RowKernelStop = 'done';
    while (s < limit) {
      if (owner !== this.owner || buf !== this.windowOf || s < this.windowStart || s >= this.windowEnd) {
        this.load(owner, buf, s);
      }
      const base = this.windowStart;
      const status = wasm.run(
        this.input,
        s - base,
        this.windowEnd - base,
        Math.min(limit, this.windowEnd) - base,
        this.output,
        0,
        OUTPUT_BYTES,
        this.values,
        0,
        VALUES_PER_CALL,
        numIdx,
        denIdx,
      );
      const outEnd = state[1] as number;
      const valueCount = state[2] as number;
      if (outEnd > 0) sink.append(this.outputBytes.subarray(0, outEnd));
      if (valueCount > 0) {
        rates.addMany(this.valueArray.subarray(0, valueCount), this.extremes[0] as number, this.extremes[1] as number);
      }
      s = base + (state[0] as number);
      lines += state[3] as number;
      rows += state[4] as number;
      if (status === CAREFUL || (status === WINDOW_END && this.windowEnd >= buf.length)) {
        stop = 'careful';
        break;
      }
      if (sink.needDrain) {
        stop = 'drain';
        break;
      }
      // DONE at the window's end, OUTPUT_FULL, VALUES_FULL, WINDOW_END with more input: carry on.
      if (status !== DONE && status !== OUTPUT_FULL && status !== VALUES_FULL && status !== WINDOW_END) {
        throw new Error(`internal: the row kernel answered ${status}`);
      }
      if (status === WINDOW_END) this.windowOf = null; // the row at `s` continues past the window: reload from it
    }
    this.next = s;
    this.lines = lines;
    this.rows = rows;
    return stop;
  }

  /**
   * The kernel's printer alone (the rates-core benchmark, the printer's tests): `String(x)` and a `\n` for every
   * value, written at `out[0]` as bytes; returns how many. The few values whose shortest decimal needs String()'s
   * tie rules (the kernel stops at them) get String() itself, as in the engine.
   */
  printRates(values: Float64Array, out: Uint8Array): number {
    // At most 25 bytes a number (e.g. -0.0000012345678901234567) and its \n: a block fits the output region.
    const block = Math.min(VALUES_PER_CALL, Math.floor(OUTPUT_BYTES / 26));
    let o = 0;
    for (let from = 0; from < values.length; ) {
      const count = Math.min(block, values.length - from);
      this.valueArray.set(values.subarray(from, from + count));
      const bytes = this.wasm.printRates(this.values, count, this.output);
      out.set(this.outputBytes.subarray(0, bytes), o);
      o += bytes;
      const printed = this.state[0] as number;
      from += printed;
      if (printed < count) {
        o += Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(`${values[from]}\n`, o, 'latin1');
        from++;
      }
    }
    return o;
  }

  private load(owner: object, buf: Uint8Array, from: number): void {
    const to = Math.min(buf.length, from + INPUT_WINDOW);
    this.inputBytes.set(buf.subarray(from, to));
    this.owner = owner;
    this.windowOf = buf;
    this.windowStart = from;
    this.windowEnd = to;
  }
}

// Set by esbuild's `define` in bundles that carry the module inline; a plain identifier elsewhere, never defined.
declare const ROWS_WASM_BASE64: string | undefined;

let loaded: RowKernel | null | undefined;

/** The process's row kernel, or null (after one warning) if it cannot be loaded: then every row goes the careful way. */
export function rowKernel(): RowKernel | null {
  if (loaded === undefined) {
    const wasm = loadWasmModule<RowsExports>(
      {
        projectPath: ROWS_WASM_PATH,
        nextToSource: () => new URL('./wasm/build/rows.wasm', import.meta.url),
        inlined: typeof ROWS_WASM_BASE64 === 'string' ? ROWS_WASM_BASE64 : undefined,
      },
      {
        what: "the rates engine's WebAssembly row kernel",
        code: 'CLOUD_PARALLEL_ROWS_WASM',
        instead: 'reading every row the careful way (same output, several times slower)',
      },
    );
    loaded = wasm === null ? null : new RowKernel(wasm);
  }
  return loaded;
}
