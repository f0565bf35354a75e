import { describe, expect, it } from 'vitest';
import { MAX_PARTS, planClosedRun } from '../../../../lib/aws/concat-plan.ts';
import { type ChunkPieces, planAssembly } from '../../../../lib/rates/parallel/assemble-plan.ts';
import { grantParts, OUTPUT_GROWTH, RESERVED_SLOTS } from '../../../../lib/rates/parallel/grants.ts';

const MIB = 1024 * 1024;
const LIMITS = { minPart: 5, maxPart: 100 };

function ranges(sizes: number[]) {
  let s = 10;
  return sizes.map((size, index) => {
    const range = { index, s, e: s + size };
    s += size;
    return range;
  });
}

/** A chunk that uploaded `parts` parts of 10 bytes from `firstSlot` on and kept `scratch` bytes. */
function chunk(firstSlot: number, parts: number, scratch: number): ChunkPieces {
  return {
    firstSlot,
    scratchBytes: scratch,
    parts: Array.from({ length: parts }, (_, k) => ({
      partNumber: firstSlot + k,
      eTag: `"e${firstSlot + k}"`,
      bytes: 10,
    })),
  };
}

/** Every part's number and size, in upload order, as S3 would get them. */
function layout(plan: ReturnType<typeof planAssembly>): [number, number][] {
  if (!plan.ok) throw new Error(`expected a plan, got re-runs of ${plan.withoutParts}`);
  return plan.steps.flatMap((step): [number, number][] =>
    step.kind === 'placed'
      ? [[step.part.partNumber, step.part.bytes]]
      : step.plan.parts.map((part, k): [number, number] => [
          step.firstPartNumber + k,
          part.kind === 'copy' ? part.piece.end - part.piece.start : part.bytes,
        ]),
  );
}

describe('grantParts', () => {
  it('shares the part numbers out evenly and leaves each chunk room for what follows its parts', () => {
    const slots = grantParts({ ranges: ranges([64 * MIB, 64 * MIB, 10]), headerBytes: 30, key: 'k', uploadId: 'u' });
    const each = Math.floor(MAX_PARTS / 3);
    expect(slots.map((s) => s.firstSlot)).toEqual([1, 1 + each, 1 + 2 * each]);
    for (const s of slots) expect(s.grant?.count).toBe(each - RESERVED_SLOTS);
    expect(slots[0]?.grant?.partBytes).toBe(8 * MIB);
  });

  it('grows the parts when the longest chunk could outgrow its numbers, and grants none past S3 limits', () => {
    const huge = grantParts({ ranges: ranges([40 * 1024 * MIB, 10]), headerBytes: 0, key: 'k', uploadId: 'u' });
    const count = Math.floor(MAX_PARTS / 2) - RESERVED_SLOTS;
    const grant = huge[0]?.grant;
    expect((grant?.partBytes ?? 0) * count).toBeGreaterThanOrEqual(OUTPUT_GROWTH * 40 * 1024 * MIB);
    const many = grantParts({ ranges: ranges(Array(5000).fill(10)), headerBytes: 0, key: 'k', uploadId: 'u' });
    expect(many.every((s) => s.grant === null)).toBe(true);
  });
});

describe('planAssembly', () => {
  it("places the workers' parts and fills the numbers after them with the scratch objects", () => {
    const plan = planAssembly([chunk(1, 2, 7), chunk(11, 3, 6), chunk(21, 0, 3)], LIMITS);
    // Chunk 0's scratch (7) is copied at 3; chunk 1's parts follow; then chunk 1's 6 and chunk 2's 3 as the last run.
    expect(layout(plan)).toEqual([
      [1, 10],
      [2, 10],
      [3, 7],
      [11, 10],
      [12, 10],
      [13, 10],
      [14, 6],
      [15, 3],
    ]);
    if (plan.ok) expect(plan.bytes).toBe(66);
  });

  it('lets the last part be small, but no other', () => {
    for (const plan of [
      planAssembly([chunk(1, 1, 5), chunk(11, 0, 1), chunk(21, 0, 2)], LIMITS),
      planAssembly([chunk(1, 0, 1), chunk(11, 0, 1), chunk(21, 0, 1)], LIMITS),
    ]) {
      const parts = layout(plan);
      for (const [, size] of parts.slice(0, -1)) expect(size).toBeGreaterThanOrEqual(LIMITS.minPart);
    }
  });

  it('asks for a chunk to be parsed again without parts when tiny outputs before it cannot make a part', () => {
    expect(planAssembly([chunk(1, 0, 2), chunk(11, 1, 6)], LIMITS)).toEqual({ ok: false, withoutParts: [1] });
    // What a chunk held back (at least the minimum) always makes a part with the tiny outputs after it: no re-run,
    // and no part under the minimum before the next chunk's parts.
    for (const plan of [
      planAssembly([chunk(1, 1, 9), chunk(11, 0, 2), chunk(21, 1, 6)], LIMITS),
      planAssembly([chunk(1, 1, 5), chunk(11, 0, 2), chunk(21, 0, 0), chunk(31, 1, 6)], LIMITS),
    ]) {
      const parts = layout(plan);
      for (const [, size] of parts.slice(0, -1)) expect(size).toBeGreaterThanOrEqual(LIMITS.minPart);
    }
  });

  it('refuses parts that are not the numbers of the grant', () => {
    const wrong = { ...chunk(1, 2, 5), firstSlot: 2 };
    expect(() => planAssembly([wrong], LIMITS)).toThrow(/chunk 0 uploaded part 1 where part 2 was due/);
  });
});

describe('planClosedRun', () => {
  it('covers the objects in order with parts of at least the minimum, whenever they hold that much', () => {
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 2000; trial++) {
      const sizes = Array.from({ length: 1 + random(7) }, () => (random(3) === 0 ? 0 : random(16)));
      const total = sizes.reduce((a, b) => a + b, 0);
      const plan = planClosedRun(sizes, LIMITS);
      if (total > 0 && total < LIMITS.minPart) {
        expect(plan, JSON.stringify(sizes)).toBeNull();
        continue;
      }
      expect(plan, JSON.stringify(sizes)).not.toBeNull();
      const pieces = (plan?.parts ?? []).flatMap((part) => (part.kind === 'copy' ? [part.piece] : part.pieces));
      for (const part of plan?.parts ?? []) {
        const bytes = part.kind === 'copy' ? part.piece.end - part.piece.start : part.bytes;
        expect(bytes, JSON.stringify(sizes)).toBeGreaterThanOrEqual(LIMITS.minPart);
      }
      // Every byte of every object once, in order.
      const bytes = pieces.flatMap((p) =>
        Array.from({ length: p.end - p.start }, (_, k) => `${p.source}:${p.start + k}`),
      );
      const expected = sizes.flatMap((size, source) => Array.from({ length: size }, (_, k) => `${source}:${k}`));
      expect(bytes, JSON.stringify(sizes)).toEqual(expected);
    }
  });
});
