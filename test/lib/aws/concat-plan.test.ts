/**
 * planConcat's promises, checked on random size lists with tiny part limits (minimum 4 bytes, maximum 8), where an
 * exhaustive search over every way to cut the bytes into parts gives the true least download to compare with.
 */
import { describe, expect, it } from 'vitest';
import {
  type ConcatPlan,
  MAX_PARTS,
  type PartLimits,
  planConcat,
  S3_PART_LIMITS,
} from '../../../lib/aws/concat-plan.ts';
import { rng as prng } from '../../support/random.ts';

const LIMITS: PartLimits = { minPart: 4, maxPart: 8 };

/**
 * The least number of bytes any valid plan downloads, by exhaustive search over where parts end: a part of bytes
 * [p, q) is valid when it holds at most maxPart bytes and at least minPart (unless it is the last); it can be copied
 * (costing nothing) only when it lies inside one object, else it is uploaded (costing its length).
 */
function leastDownload(sizes: number[], { minPart, maxPart }: PartLimits): number {
  const owner: number[] = []; // the object each byte of the result comes from
  sizes.forEach((size, i) => {
    for (let b = 0; b < size; b++) owner.push(i);
  });
  const total = owner.length;
  const best = new Array<number>(total + 1).fill(Number.POSITIVE_INFINITY);
  best[total] = 0;
  for (let p = total - 1; p >= 0; p--) {
    for (let q = p + 1; q <= Math.min(total, p + maxPart); q++) {
      if (q - p < minPart && q !== total) continue;
      const copyable = owner[p] === owner[q - 1];
      best[p] = Math.min(best[p]!, (copyable ? 0 : q - p) + best[q]!);
    }
  }
  return total === 0 ? 0 : best[0]!;
}

/** Checks what every plan must be; returns nothing, fails the test on the first broken rule. */
function checkPlan(sizes: number[], plan: ConcatPlan, { minPart, maxPart }: PartLimits, label: string): void {
  // The pieces, in part order, are the objects' bytes in order, each byte once.
  const cursor = { source: 0, offset: 0 };
  const skipEmpty = () => {
    while (cursor.source < sizes.length && cursor.offset === sizes[cursor.source]) {
      cursor.source++;
      cursor.offset = 0;
    }
  };
  skipEmpty();
  let uploaded = 0;
  plan.parts.forEach((part, i) => {
    const pieces = part.kind === 'copy' ? [part.piece] : part.pieces;
    const bytes = pieces.reduce((sum, piece) => sum + piece.end - piece.start, 0);
    if (part.kind === 'upload') {
      expect(part.bytes, label).toBe(bytes);
      uploaded += bytes;
    } else {
      expect(part.whole, label).toBe(part.piece.start === 0 && part.piece.end === sizes[part.piece.source]);
    }
    expect(bytes, `${label}: part ${i + 1} too big`).toBeLessThanOrEqual(maxPart);
    if (i < plan.parts.length - 1) expect(bytes, `${label}: part ${i + 1} too small`).toBeGreaterThanOrEqual(minPart);
    for (const piece of pieces) {
      expect([piece.source, piece.start], label).toEqual([cursor.source, cursor.offset]);
      expect(piece.end, label).toBeGreaterThan(piece.start);
      cursor.offset = piece.end;
      skipEmpty();
    }
  });
  expect(cursor.source, `${label}: not every byte is in a part`).toBe(sizes.length);
  expect(plan.downloadBytes, label).toBe(uploaded);
  expect(plan.bytes, label).toBe(sizes.reduce((sum, size) => sum + size, 0));
  // The caller's memory bound: one uploaded part of less than two minimum parts.
  expect(plan.largestUpload, label).toBeLessThan(2 * minPart);
}

describe('planConcat', () => {
  it('on random size lists: valid parts, every byte once in order, and the least download possible', () => {
    const seed = Number(process.env.CONCAT_PLAN_SEED ?? Date.now() % 2 ** 31);
    console.log(`planConcat property test seed: ${seed} (CONCAT_PLAN_SEED=${seed} replays it)`);
    const random = prng(seed);
    const { minPart: m } = LIMITS;
    const interesting = [0, 1, m - 1, m, m + 1, 2 * m - 1, 2 * m, 2 * m + 1, 3 * m + 2, 17, 25];
    for (let run = 0; run < 3000; run++) {
      const count = 1 + Math.floor(random() * 10);
      const sizes = Array.from({ length: count }, () =>
        random() < 0.7 ? interesting[Math.floor(random() * interesting.length)]! : Math.floor(random() * 30),
      );
      const label = `seed ${seed}, sizes [${sizes.join(', ')}]`;
      const plan = planConcat(sizes, LIMITS);
      checkPlan(sizes, plan, LIMITS, label);
      expect(plan.downloadBytes, `${label}: downloads more than needed`).toBe(leastDownload(sizes, LIMITS));
    }
  });

  it('downloads two big objects in a row when that is cheapest (a case a greedy plan gets wrong)', () => {
    // min 5: the 1-byte gaps cannot borrow enough from the 7s (2 spare bytes) or the 5 (none); downloading the first
    // 7 and the 5 (gap 1 + 7 + 5 + 1 = 14) beats downloading both 7s (8 + 8 = 16).
    const limits = { minPart: 5, maxPart: 12 };
    const sizes = [1, 7, 5, 1, 7, 7, 20, 8, 10, 27];
    const plan = planConcat(sizes, limits);
    checkPlan(sizes, plan, limits, 'regression');
    expect(leastDownload(sizes, limits)).toBe(14);
    expect(plan.downloadBytes).toBe(14);
  });

  it('copies objects over the maximum part size in even ranges, each at least the minimum', () => {
    const sizes = [S3_PART_LIMITS.maxPart * 2 + 1, 10];
    const plan = planConcat(sizes);
    checkPlan(sizes, plan, S3_PART_LIMITS, 'over 5 GiB');
    expect(plan.parts.map((part) => part.kind)).toEqual(['copy', 'copy', 'copy', 'copy']);
  });

  it('counts the parts a list needs, so the caller can refuse more than S3 allows', () => {
    const plan = planConcat(new Array<number>(MAX_PARTS + 1).fill(S3_PART_LIMITS.minPart));
    expect(plan.parts).toHaveLength(MAX_PARTS + 1);
  });

  it('refuses sizes that are not byte counts and limits S3 could not have', () => {
    expect(() => planConcat([1, -1])).toThrow('size 1 is not a byte count: -1');
    expect(() => planConcat([1.5])).toThrow(RangeError);
    expect(() => planConcat([1], { minPart: 4, maxPart: 7 })).toThrow(RangeError);
  });
});
