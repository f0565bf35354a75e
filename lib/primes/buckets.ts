/**
 * The bucket sieve (sieve.ts, step 4): base primes too large to hit every segment wait in the bucket of the
 * segment holding their next multiple, so each segment looks only at the primes that hit it.
 */
import { CARRY as WHEEL_CARRY, GAP as WHEEL_GAP, MASK as WHEEL_MASK } from './wheel.ts';

// Local bindings of the wheel's tables. V8 folds a module's own `const` into the optimized loops below, but
// an imported binding is read from its module cell at each use. Without these bindings, countPrimes(0, 3e9)
// took ~880 ms of CPU instead of ~600 ms (CPU time, unbundled under tsx). Keep them.
const CARRY = WHEEL_CARRY;
const GAP = WHEEL_GAP;
const MASK = WHEEL_MASK;

/** Bucket entries are pairs: (a·8 + r) of the prime 30a + WHEEL[r], and (byte offset·8 + wheel index). */
const BUCKET_BLOCK_ENTRIES = 1024;

/**
 * The bucket sieve's storage: entries for a future segment live in a chain of fixed-size blocks taken
 * from a shared pool, so memory follows the number of live entries rather than every bucket's peak.
 */
export class Buckets {
  private readonly blocks: Uint32Array[] = [];
  private readonly nextBlock: number[] = [];
  private readonly freeBlocks: number[] = [];
  /** Per ring slot: the block being filled (-1 for none) and its fill in uint32s. */
  private readonly head: Int32Array;
  private readonly fill: Int32Array;
  readonly ringMask: number;

  constructor(ringSize: number) {
    this.head = new Int32Array(ringSize).fill(-1);
    this.fill = new Int32Array(ringSize);
    this.ringMask = ringSize - 1;
  }

  push(slot: number, prime: number, state: number): void {
    let block = this.head[slot]!;
    let f = this.fill[slot]!;
    if (block < 0 || f === BUCKET_BLOCK_ENTRIES * 2) {
      const fresh = this.freeBlocks.length > 0 ? this.freeBlocks.pop()! : this.allocate();
      this.nextBlock[fresh] = block;
      this.head[slot] = block = fresh;
      f = 0;
    }
    const data = this.blocks[block]!;
    data[f] = prime;
    data[f + 1] = state;
    this.fill[slot] = f + 2;
  }

  /** Detaches the chain of a slot: its head block id and fill; walk with next() and give back with release(). */
  take(slot: number): { block: number; fill: number } {
    const taken = { block: this.head[slot]!, fill: this.fill[slot]! };
    this.head[slot] = -1;
    this.fill[slot] = 0;
    return taken;
  }

  data(block: number): Uint32Array {
    return this.blocks[block]!;
  }

  next(block: number): number {
    return this.nextBlock[block]!;
  }

  release(block: number): void {
    this.freeBlocks.push(block);
  }

  private allocate(): number {
    this.blocks.push(new Uint32Array(BUCKET_BLOCK_ENTRIES * 2));
    this.nextBlock.push(-1);
    return this.blocks.length - 1;
  }
}

/**
 * Schedules a large prime's next multiple, `offset` bytes from the start of segment `segmentNumber`,
 * unless it lies beyond the range (`bytesLeft` bytes from that segment's start).
 */
export function schedule(
  buckets: Buckets,
  segmentBytes: number,
  segmentNumber: number,
  bytesLeft: number,
  ar: number,
  offset: number,
  wheel: number,
): void {
  if (offset >= bytesLeft) return;
  const ahead = Math.floor(offset / segmentBytes);
  buckets.push((segmentNumber + ahead) & buckets.ringMask, ar, (offset - ahead * segmentBytes) * 8 + wheel);
}

/** Primes with at most one multiple per segment: this segment's bucket, then each to its next bucket. */
export function crossLarge(
  seg: Uint8Array,
  len: number,
  buckets: Buckets,
  segmentBytes: number,
  segmentNumber: number,
  bytesLeft: number,
): void {
  let { block, fill } = buckets.take(segmentNumber & buckets.ringMask);
  while (block >= 0) {
    const data = buckets.data(block);
    for (let e = 0; e < fill; e += 2) {
      const ar = data[e]!;
      const state = data[e + 1]!;
      const r8 = (ar & 7) * 8;
      const i = state & 7;
      const j = state >>> 3;
      if (j >= len) continue; // only in the last, shorter segment: beyond the range
      seg[j]! |= MASK[r8 + i]!;
      const nextOffset = j + (ar >>> 3) * GAP[i]! + CARRY[r8 + i]!;
      schedule(buckets, segmentBytes, segmentNumber, bytesLeft, ar, nextOffset, (i + 1) & 7);
    }
    const following = buckets.next(block);
    buckets.release(block);
    block = following;
    fill = BUCKET_BLOCK_ENTRIES * 2; // every block behind the head is full
  }
}
