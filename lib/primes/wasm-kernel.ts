/**
 * The WebAssembly segment kernel (see kernel.ts): lib/primes/wasm/*.ts (AssemblyScript), compiled by
 * `npm run build:wasm` to lib/primes/wasm/build/sieve.wasm and loaded as every module of the project is
 * (lib/wasm-module.ts). If it does not load, the sieve warns once and uses the JS kernel: slower, same counts.
 *
 * Memory: this side lays out the module's linear memory above its static data, per range: the six pre-sieve
 * patterns (kept between calls), the segment, four i32 of state per small/medium prime, the buckets.
 */
import { loadWasmModule, type WasmMemory } from '../wasm-module.ts';
import type { KernelPlan, SegmentKernel } from './kernel.ts';
import { PRESIEVE_GROUPS, presievePattern } from './presieve.ts';

/** Relative to the project root (and to the Lambda package's root). */
export const SIEVE_WASM_PATH = 'lib/primes/wasm/build/sieve.wasm';

/** The module's exports (lib/primes/wasm/kernel.ts); pointers and sizes are byte offsets into `memory`. */
export interface WasmExports {
  memory: WasmMemory;
  heapBase(): number;
  presieve(seg: number, bytes: number, a: number, b: number, c: number, d: number, e: number, f: number): void;
  countComposites(seg: number, bytes: number): number;
  crossSmall(seg: number, len: number, state: number, from: number, to: number): void;
  crossMedium(seg: number, len: number, state: number, from: number, to: number): void;
  bucketsInit(
    head: number,
    fill: number,
    next: number,
    blocks: number,
    blockCount: number,
    ring: number,
    segBytes: number,
  ): void;
  schedule(segmentNumber: number, bytesLeft: number, ar: number, offset: number, wheel: number): void;
  crossLarge(seg: number, len: number, segmentNumber: number, bytesLeft: number): void;
}

// Set by esbuild's `define` in bundles that carry the module inline; a plain identifier elsewhere, never defined.
declare const SIEVE_WASM_BASE64: string | undefined;

let loaded: WasmExports | null | undefined;

/** The compiled kernel, or null (after one warning) if it cannot be loaded here. */
export function loadWasmKernel(): WasmExports | null {
  if (loaded === undefined) {
    loaded = loadWasmModule<WasmExports>(
      {
        projectPath: SIEVE_WASM_PATH,
        nextToSource: () => new URL('./wasm/build/sieve.wasm', import.meta.url),
        inlined: typeof SIEVE_WASM_BASE64 === 'string' ? SIEVE_WASM_BASE64 : undefined,
      },
      {
        what: "the sieve's WebAssembly kernel",
        code: 'CLOUD_PARALLEL_SIEVE_WASM',
        instead: 'using the JS kernel (same counts, ~2× slower)',
      },
    );
  }
  return loaded;
}

/**
 * The smallest primes (below L1_PRIME_LIMIT, ~300 of them, most of the crossings) sieve each segment in blocks of
 * L1_BLOCK bytes, each pre-sieved just before, so their many stores hit the L1 cache (32 KiB a core here) instead
 * of L2. Measured for π(1e10), 3 × 3 runs in turns: 1.11 s against 1.21 s for whole segments; 16 or 64 KiB blocks,
 * or a limit of 4096 or more (fewer turns of the wheel per block, more per-block overhead per prime), were slower.
 */
const L1_BLOCK = 32 * 1024;
const L1_PRIME_LIMIT = 2048;
const BLOCK_BYTES = 1024 * 8; // lib/primes/wasm/buckets.ts: BLOCK_ENTRIES pairs of u32
const PAGE = 65536;
const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** The pre-sieve patterns in the module's memory, long enough for segments of up to `capacity` bytes. */
interface LoadedPatterns {
  capacity: number;
  periods: number[];
  pointers: number[];
  end: number;
}
const patternsOf = new WeakMap<WasmExports, LoadedPatterns>();

function loadPatterns(w: WasmExports, segmentBytes: number): LoadedPatterns {
  const current = patternsOf.get(w);
  if (current && current.capacity >= segmentBytes) return current;
  // At least the default segment size, so the many short ranges of a test run load the patterns once.
  const capacity = Math.max(segmentBytes, 512 * 1024, current?.capacity ?? 0);
  let at = align16(w.heapBase());
  const periods: number[] = [];
  const pointers: number[] = [];
  const patterns = PRESIEVE_GROUPS.map((g) => presievePattern(g, capacity));
  // The kernel reads up to 16 bytes past period + segment (it ORs 16 bytes at a time).
  const end = patterns.reduce((top, p) => top + align16(p.period + capacity + 16), at);
  grow(w, end);
  for (const p of patterns) {
    const bytes = p.period + capacity;
    new Uint8Array(w.memory.buffer, at, bytes).set(new Uint8Array(p.words.buffer, 0, bytes));
    periods.push(p.period);
    pointers.push(at);
    at += align16(bytes + 16);
  }
  const loadedPatterns = { capacity, periods, pointers, end };
  patternsOf.set(w, loadedPatterns);
  return loadedPatterns;
}

function grow(w: WasmExports, bytes: number): void {
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / PAGE));
}

export class WasmKernel implements SegmentKernel {
  seg = new Uint8Array(0);
  private state = new Int32Array(0);
  private patterns: LoadedPatterns | undefined;
  private segPtr = 0;
  private statePtr = 0;
  private smallEnd = 0;
  private hasLarge = false;
  private l1End = 0;

  constructor(private readonly w: WasmExports) {}

  prepare(plan: KernelPlan): void {
    const { w } = this;
    const { segmentBytes, mediumEnd, largeCount, ringSize } = plan;
    const patterns = loadPatterns(w, segmentBytes);
    this.patterns = patterns;
    this.smallEnd = plan.smallEnd;
    this.l1End = 0;
    this.segPtr = patterns.end;
    this.statePtr = align16(this.segPtr + segmentBytes + 32);
    const head = align16(this.statePtr + mediumEnd * 16);
    // Always re-pointed, even with no large primes: the buckets' last layout may overlap this one.
    const ring = largeCount > 0 ? ringSize : 1;
    // Every large prime has at most one entry; each slot has one partly filled block; one block is being
    // emptied while its primes move on.
    const blockCount = largeCount > 0 ? ring + Math.ceil(largeCount / 1024) + 2 : 0;
    const fill = head + ring * 4;
    const next = fill + ring * 4;
    const blocks = align16(next + blockCount * 4);
    grow(w, blocks + blockCount * BLOCK_BYTES);
    w.bucketsInit(head, fill, next, blocks, blockCount, ring, segmentBytes);
    this.hasLarge = largeCount > 0;
    // Views after the last grow: growing detaches the old buffer.
    this.seg = new Uint8Array(w.memory.buffer, this.segPtr, segmentBytes + 8);
    this.state = new Int32Array(w.memory.buffer, this.statePtr, mediumEnd * 4);
  }

  setPrime(k: number, a: number, r8: number): void {
    if (a * 30 < L1_PRIME_LIMIT) this.l1End = k + 1;
    this.state[k * 4] = a;
    this.state[k * 4 + 1] = r8;
  }

  setNext(k: number, offset: number, wheel: number): void {
    this.state[k * 4 + 2] = offset;
    this.state[k * 4 + 3] = wheel;
  }

  schedule(segmentNumber: number, bytesLeft: number, ar: number, offset: number, wheel: number): void {
    // An i32 parameter takes the number modulo 2^32: the segment number keeps the low bits the ring uses, and
    // bytes left only matter below 2^31.
    this.w.schedule(segmentNumber, Math.min(bytesLeft, 0x7fffffff), ar, offset, wheel);
  }

  sieve(
    segStart: number,
    len: number,
    segmentNumber: number,
    bytesLeft: number,
    smallTo: number,
    mediumTo: number,
  ): void {
    const { w, segPtr, statePtr } = this;
    const { periods, pointers } = this.patterns!;
    // segStart is a multiple of 8 and each period a multiple of 4: each pattern is read from a word boundary.
    const at = (g: number): number => pointers[g]! + (segStart % periods[g]!);
    // Blocks are multiples of 16 bytes: presieve's 16-byte overshoot only reaches the next block, which it rewrites.
    const l1To = Math.min(smallTo, this.l1End);
    for (let b = 0; b < len; b += L1_BLOCK) {
      const blockLen = Math.min(L1_BLOCK, len - b);
      w.presieve(
        segPtr + b,
        ((blockLen + 3) >> 2) * 4,
        at(0) + b,
        at(1) + b,
        at(2) + b,
        at(3) + b,
        at(4) + b,
        at(5) + b,
      );
      w.crossSmall(segPtr + b, blockLen, statePtr, 0, l1To);
    }
    w.crossSmall(segPtr, len, statePtr, l1To, smallTo);
    w.crossMedium(segPtr, len, statePtr, this.smallEnd, mediumTo);
    if (this.hasLarge) w.crossLarge(segPtr, len, segmentNumber, Math.min(bytesLeft, 0x7fffffff));
  }

  countComposites(len: number): number {
    return this.w.countComposites(this.segPtr, ((len + 3) >> 2) * 4);
  }
}
