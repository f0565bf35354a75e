/**
 * The WebAssembly segment kernel (lib/primes/wasm-kernel.ts, the default) against the JS kernel
 * (lib/primes/js-kernel.ts, the reference): the same counts and the same primes on random ranges at every scale,
 * every segment size (tiny segments push primes through the medium and bucket paths), and the edges sieve.test.ts
 * checks against independent references.
 */
import { describe, expect, it } from 'vitest';
import { rng } from '../../support/random.ts';
import { countPrimes, listPrimes, type SieveOptions } from '../../../lib/primes/sieve.ts';
import { createKernel } from '../../../lib/primes/kernel.ts';
import { loadWasmKernel, WasmKernel } from '../../../lib/primes/wasm-kernel.ts';
import { withoutWasmBuild } from '../../support/without-wasm-build.ts';

const TWO_53 = 2 ** 53;
const SEGMENT_SIZES = [undefined, 8, 24, 64, 4096, 40_000];

function expectSameCount(start: number, end: number, options: SieveOptions = {}): void {
  const wasm = countPrimes(start, end, { ...options, kernel: 'wasm' });
  const js = countPrimes(start, end, { ...options, kernel: 'js' });
  expect(wasm, `[${start}, ${end}) segmentBytes=${options.segmentBytes}`).toBe(js);
}

function expectSameList(start: number, end: number, options: SieveOptions = {}): void {
  const wasm = listPrimes(start, end, { ...options, kernel: 'wasm' });
  const js = listPrimes(start, end, { ...options, kernel: 'js' });
  expect(wasm.length, `[${start}, ${end}) segmentBytes=${options.segmentBytes}`).toBe(js.length);
  expect(wasm).toEqual(js);
}

describe('the WebAssembly kernel', () => {
  it('is built and loads (otherwise the comparisons below would compare the JS kernel with itself)', () => {
    expect(loadWasmKernel(), 'run `npm run build:wasm`').not.toBeNull();
    expect(createKernel('wasm')).toBeInstanceOf(WasmKernel);
    expect(createKernel()).toBeInstanceOf(WasmKernel);
    expect(createKernel('js')).not.toBeInstanceOf(WasmKernel);
  });
});

describe('without the built module', () => {
  it('warns once and counts with the JS kernel', async () => {
    const warnings = await withoutWasmBuild(async () => {
      const fresh = await import('../../../lib/primes/sieve.ts');
      const kernel = await import('../../../lib/primes/wasm-kernel.ts');
      expect(fresh.countPrimes(0, 1e6)).toBe(78498);
      expect(fresh.countPrimes(1e8, 1.01e8)).toBe(54208);
      expect(kernel.loadWasmKernel()).toBeNull();
    });
    expect(warnings.filter((m) => m.includes('WebAssembly kernel did not load'))).toHaveLength(1);
  });
});

describe('the WebAssembly kernel counts and lists as the JS kernel does', () => {
  it('on the edges: from 0 to 3, around squares of primes, empty and one-number ranges', () => {
    for (const start of [0, 1, 2, 3]) for (let end = start; end < 200; end++) expectSameCount(start, end);
    for (const p of [7, 11, 13, 79, 83, 89, 97, 101, 997, 1009, 1399, 10007, 65521, 1_000_003]) {
      const sq = p * p;
      for (const [lo, hi] of [
        [sq - 40, sq],
        [sq, sq + 1],
        [sq - 1, sq + 60],
        [sq - 300, sq + 300],
      ] as const) {
        expectSameCount(Math.max(0, lo), hi);
        expectSameList(Math.max(0, lo), hi, { segmentBytes: 16 });
      }
    }
    // Near 2^53 every range sieves its 5.4 million base primes first (~0.5 s): a few ranges only.
    const big = 94_906_249 ** 2;
    expectSameList(big - 300, big + 300, { segmentBytes: 16 });
    for (const n of [0, 1, 7, 97, 1e9 + 7, TWO_53]) expectSameCount(n, n);
    expectSameList(TWO_53 - 3000, TWO_53);
  });

  it('on random ranges below 1e7, every segment size', () => {
    const random = rng(16);
    for (let t = 0; t < 300; t++) {
      const a = Math.floor(random() * 1e7);
      const b = Math.floor(random() * (random() < 0.5 ? 5000 : 1e7));
      const [start, end] = [Math.min(a, b), Math.max(a, b)];
      const segmentBytes = SEGMENT_SIZES[t % SEGMENT_SIZES.length];
      expectSameCount(start, end, { segmentBytes });
      if (end - start <= 200_000) expectSameList(start, end, { segmentBytes });
    }
  });

  it('on random ranges at every scale up to 2^53 (medium primes and the bucket sieve)', () => {
    const random = rng(1016);
    for (let t = 0; t < 24; t++) {
      // A start spread over the magnitudes 1e3 to 2^53, a width up to 1e6.
      const start = Math.min(TWO_53 - 1, Math.floor(10 ** (3 + random() * 12.95)));
      const end = Math.min(TWO_53, start + Math.floor(random() * 1e6));
      const segmentBytes = SEGMENT_SIZES[t % SEGMENT_SIZES.length];
      expectSameCount(start, end, { segmentBytes });
      expectSameList(start, Math.min(end, start + 20_000), { segmentBytes });
    }
  });

  it('on wide ranges, with the default segment and across many segments', () => {
    expectSameCount(0, 1e8);
    expectSameCount(1e12, 1e12 + 1e8);
    expectSameCount(TWO_53 - 2e7, TWO_53);
    expectSameCount(123_456_789, 987_654_321, { segmentBytes: 1 << 20 });
    expectSameCount(1e11 + 7, 1e11 + 5e7 + 3, { segmentBytes: 4096 });
  });

  it('alternating kernels and sizes in one process: each range lays out its memory anew', () => {
    const random = rng(7);
    for (let t = 0; t < 20; t++) {
      const start = Math.floor(random() * 1e13);
      const end = start + Math.floor(random() * 3e6);
      const segmentBytes = SEGMENT_SIZES[(t * 5) % SEGMENT_SIZES.length];
      expectSameCount(start, end, { segmentBytes });
    }
  });
});
