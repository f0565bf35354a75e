/**
 * The JS segment kernel (see kernel.ts): presieve.ts, cross-off.ts and buckets.ts over a Uint8Array. It is the
 * reference the WebAssembly kernel is tested against, and the fallback where WebAssembly cannot load.
 */
import { Buckets, crossLarge, schedule } from './buckets.ts';
import { crossMedium, crossSmall, type SievingPrimes } from './cross-off.ts';
import type { KernelPlan, SegmentKernel } from './kernel.ts';
import { type Pattern, PRESIEVE_GROUPS, presieve, presievePattern } from './presieve.ts';

export class JsKernel implements SegmentKernel {
  seg = new Uint8Array(0);
  private segWords = new Int32Array(0);
  private patterns: Pattern[] = [];
  private sieving: SievingPrimes = {
    a: new Int32Array(0),
    r8: new Int32Array(0),
    next: new Int32Array(0),
    wheel: new Int32Array(0),
  };
  private buckets: Buckets | undefined;
  private segmentBytes = 0;
  private smallEnd = 0;

  prepare(plan: KernelPlan): void {
    const { segmentBytes, mediumEnd } = plan;
    this.segmentBytes = segmentBytes;
    this.smallEnd = plan.smallEnd;
    this.patterns = PRESIEVE_GROUPS.map((g) => presievePattern(g, segmentBytes));
    this.seg = new Uint8Array(segmentBytes + 8);
    this.segWords = new Int32Array(this.seg.buffer);
    // State arrays only for the small and medium primes: near 2^53 there are 5.4 million large ones, whose
    // state lives in the buckets.
    this.sieving = {
      a: new Int32Array(mediumEnd),
      r8: new Int32Array(mediumEnd),
      next: new Int32Array(mediumEnd),
      wheel: new Int32Array(mediumEnd),
    };
    this.buckets = plan.largeCount > 0 ? new Buckets(plan.ringSize) : undefined;
  }

  setPrime(k: number, a: number, r8: number): void {
    this.sieving.a[k] = a;
    this.sieving.r8[k] = r8;
  }

  setNext(k: number, offset: number, wheel: number): void {
    this.sieving.next[k] = offset;
    this.sieving.wheel[k] = wheel;
  }

  schedule(segmentNumber: number, bytesLeft: number, ar: number, offset: number, wheel: number): void {
    schedule(this.buckets!, this.segmentBytes, segmentNumber, bytesLeft, ar, offset, wheel);
  }

  sieve(
    segStart: number,
    len: number,
    segmentNumber: number,
    bytesLeft: number,
    smallTo: number,
    mediumTo: number,
  ): void {
    const { seg, sieving, buckets } = this;
    presieve(this.segWords, (len + 3) >> 2, this.patterns, segStart);
    crossSmall(seg, len, sieving, 0, smallTo);
    crossMedium(seg, len, sieving, this.smallEnd, mediumTo);
    if (buckets) crossLarge(seg, len, buckets, this.segmentBytes, segmentNumber, bytesLeft);
  }

  countComposites(len: number): number {
    const words = new Int32Array(this.seg.buffer, 0, (len + 3) >> 2);
    let total = 0;
    for (let w = 0; w < words.length; w++) {
      let v = words[w]!;
      v -= (v >>> 1) & 0x55555555;
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      total += Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
    }
    return total;
  }
}
