import { describe, expect, it } from 'vitest';
import { MAX_CHUNKS, splitRange } from '../../../lib/primes/chunks.ts';
import { parsePrimesRunInput } from '../../../lib/primes/run-input.ts';
import { rng } from '../../support/random.ts';

function expectExactCover(start: number, end: number, chunks: { start: number; end: number }[]) {
  expect(chunks[0]?.start).toBe(start);
  expect(chunks.at(-1)?.end).toBe(end);
  for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.start).toBe(chunks[i - 1]!.end);
  for (const c of chunks) expect(c.end).toBeGreaterThan(c.start);
}

describe('splitRange', () => {
  it('covers the range exactly once, in order, for random ranges and chunk counts', () => {
    const rand = rng(3);
    for (let i = 0; i < 500; i++) {
      const start = Math.floor(rand() * 1e12);
      const end = start + 1 + Math.floor(rand() * 1e9);
      const chunks = splitRange(start, end, { chunks: 1 + Math.floor(rand() * 100) });
      expectExactCover(start, end, chunks);
    }
  });

  it('balances chunk sizes to within one number', () => {
    const sizes = splitRange(0, 1003, { chunks: 10 }).map((c) => c.end - c.start);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1003);
  });

  it('stays exact near 2^53, where start + length * i / count would lose precision', () => {
    const start = 2 ** 53 - 10_000_007;
    const chunks = splitRange(start, 2 ** 53, { chunks: MAX_CHUNKS });
    expectExactCover(start, 2 ** 53, chunks);
    expect(chunks).toHaveLength(MAX_CHUNKS);
  });

  it('clamps more chunks than numbers to one number per chunk', () => {
    expect(splitRange(5, 8, { chunks: 10 })).toEqual([
      { start: 5, end: 6 },
      { start: 6, end: 7 },
      { start: 7, end: 8 },
    ]);
  });

  it('splits by chunkSize into the fewest balanced chunks of at most chunkSize numbers', () => {
    expect(splitRange(0, 25, { chunkSize: 10 }).map((c) => c.end - c.start)).toEqual([8, 8, 9]);
    expect(splitRange(0, 30, { chunkSize: 10 }).map((c) => c.end - c.start)).toEqual([10, 10, 10]);
  });

  it('gives no chunks for an empty range', () => {
    expect(splitRange(7, 7, { chunks: 4 })).toEqual([]);
  });

  it('refuses a chunkSize that would make more than MAX_CHUNKS chunks, naming the smallest that works', () => {
    expect(() => splitRange(0, 1e9, { chunkSize: 10 })).toThrow(
      /at most 10000 are allowed — use a chunkSize of at least 100000/,
    );
  });
});

describe('parsePrimesRunInput', () => {
  it('accepts the documented shape with defaults', () => {
    expect(parsePrimesRunInput({ start: 100000000, end: 101000000, chunks: 4 })).toEqual({
      start: 100000000,
      end: 101000000,
      chunks: 4,
      backend: 'lambda',
    });
  });

  it.each([
    [{ start: 10, end: 1 }, /start must be ≤ end/],
    [{ start: -1, end: 10 }, /start must be ≥ 0/],
    [{ start: 0, end: 10.5 }, /end must be a whole number/],
    [{ start: 0, end: 2 ** 53 + 2 }, /end must be ≤ 2\^53/],
    [{ start: '0', end: 10 }, /start must be a number/],
    [{ end: 10 }, /start must be a number/],
    [{ start: 0, end: 10, chunks: 0 }, /chunks must be at least 1/],
    [{ start: 0, end: 10, chunks: 1.5 }, /chunks must be a whole number/],
    [{ start: 0, end: 10, chunks: MAX_CHUNKS + 1 }, /chunks must be at most 10000/],
    [{ start: 0, end: 10, chunks: 2, chunkSize: 5 }, /give chunks or chunkSize, not both/],
    [{ start: 0, end: 10, chunkSize: 0 }, /chunkSize must be at least 1/],
    [{ start: 0, end: 10, backend: 'gpu' }, /backend must be one of: lambda, ec2, local/],
    [{ start: 0, end: 10, concurrency: 0 }, /concurrency must be at least 1/],
    [{ start: 0, end: 10, concurrency: 5000 }, /concurrency must be at most 1000/],
    [null, /\(input\)/],
  ])('rejects %j with an actionable message', (input, message) => {
    expect(() => parsePrimesRunInput(input)).toThrow(message);
  });
});
