/**
 * The segment kernel: what the sieve (sieve.ts) does to each segment once it knows the range's layout and base
 * primes — pre-sieve, cross off the small, medium and large primes, count. Two implement it: the JS kernel
 * (js-kernel.ts, the reference the tests compare with) and the WebAssembly one (wasm-kernel.ts, the default,
 * about twice as fast). sieve.ts keeps everything else: range checks, base primes, the first multiple of each
 * prime (doubles up to 2^53), clipping and decoding.
 */
import { JsKernel } from './js-kernel.ts';
import { loadWasmKernel, WasmKernel } from './wasm-kernel.ts';

/** Which kernel crosses off: `wasm` (the default; falls back to `js` with a warning if it cannot load) or `js`. */
export type KernelName = 'wasm' | 'js';

/** What a kernel needs to lay out its state for one range. */
export interface KernelPlan {
  segmentBytes: number;
  /** Sieving primes [0, smallEnd) are small, [smallEnd, mediumEnd) medium; the rest are large. */
  smallEnd: number;
  mediumEnd: number;
  /** How many large primes there are (0: no buckets). */
  largeCount: number;
  /** Bucket ring size, a power of two. */
  ringSize: number;
}

export interface SegmentKernel {
  /** Lays out the state for a range; `seg` is valid (and the setters may be called) from here on. */
  prepare(plan: KernelPlan): void;
  /** The segment buffer: segmentBytes + 8 bytes, the sieved bits of the current segment. */
  readonly seg: Uint8Array;
  /** A small or medium prime 30a + WHEEL[r8 / 8], k-th of the sieving primes. */
  setPrime(k: number, a: number, r8: number): void;
  /** Where a small or medium prime's next multiple lies, once it is activated. */
  setNext(k: number, offset: number, wheel: number): void;
  /** A large prime's next multiple (see buckets.ts: schedule). */
  schedule(segmentNumber: number, bytesLeft: number, ar: number, offset: number, wheel: number): void;
  /**
   * Sieves one segment: pre-sieve, the small primes [0, smallTo), the medium ones [smallEnd, mediumTo), the large
   * ones due in this segment. Afterwards seg[0, len) holds its bits (clip() in sieve.ts trims the range's edges).
   */
  sieve(
    segStart: number,
    len: number,
    segmentNumber: number,
    bytesLeft: number,
    smallTo: number,
    mediumTo: number,
  ): void;
  /** The set bits of seg[0, 4·ceil(len/4)). */
  countComposites(len: number): number;
}

/** A kernel for one sieve call. Cheap: the WebAssembly module is compiled once per process. */
export function createKernel(name: KernelName = 'wasm'): SegmentKernel {
  if (name === 'wasm') {
    const exports = loadWasmKernel();
    if (exports) return new WasmKernel(exports);
  }
  return new JsKernel();
}
