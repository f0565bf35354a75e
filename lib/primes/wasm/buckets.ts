/**
 * AssemblyScript: the bucket sieve for the large primes (at most one multiple per segment), as ../buckets.ts
 * does it in JS. All storage lives in memory the JS side laid out and sized (lib/primes/wasm-kernel.ts): a ring of
 * slots, each the head of a chain of fixed-size blocks of (prime, state) pairs, and a pool of blocks. Every large
 * prime has at most one entry, so the pool never needs more than ring + entries/BLOCK_ENTRIES + 2 blocks.
 */
import { at, CARRY, GAP, MASK } from './tables';

/** Entries (pairs of u32) per block: the same as the JS kernel. */
const BLOCK_ENTRIES: i32 = 1024;
const BLOCK_BYTES: usize = <usize>BLOCK_ENTRIES * 8;

let head: usize = 0; // i32 per slot: the block being filled, or -1
let fill: usize = 0; // i32 per slot: its fill in u32s
let nextBlock: usize = 0; // i32 per block: the block behind it in its chain, or the next free one
let blocks: usize = 0;
let maxBlocks: i32 = 0;
let used: i32 = 0;
let freeList: i32 = -1;
let ringMask: i32 = 0;
let segmentBytes: i32 = 0;

/** Points the buckets at their memory and empties them. */
export function bucketsInit(
  headPtr: usize,
  fillPtr: usize,
  nextPtr: usize,
  blocksPtr: usize,
  blockCount: i32,
  ringSize: i32,
  segBytes: i32,
): void {
  head = headPtr;
  fill = fillPtr;
  nextBlock = nextPtr;
  blocks = blocksPtr;
  maxBlocks = blockCount;
  used = 0;
  freeList = -1;
  ringMask = ringSize - 1;
  segmentBytes = segBytes;
  for (let s = 0; s < ringSize; s++) {
    store<i32>(head + ((<usize>s) << 2), -1);
    store<i32>(fill + ((<usize>s) << 2), 0);
  }
}

function push(slot: i32, prime: u32, state: u32): void {
  const h = head + ((<usize>slot) << 2);
  const fl = fill + ((<usize>slot) << 2);
  let block = load<i32>(h);
  let f = load<i32>(fl);
  if (block < 0 || f === BLOCK_ENTRIES * 2) {
    let fresh = freeList;
    if (fresh >= 0) {
      freeList = load<i32>(nextBlock + ((<usize>fresh) << 2));
    } else {
      // The JS side sized the pool for every large prime; running out would be a bug there, not a bad range.
      if (used >= maxBlocks) unreachable();
      fresh = used++;
    }
    store<i32>(nextBlock + ((<usize>fresh) << 2), block);
    store<i32>(h, fresh);
    block = fresh;
    f = 0;
  }
  const entry = blocks + <usize>block * BLOCK_BYTES + ((<usize>f) << 2);
  store<u32>(entry, prime);
  store<u32>(entry, state, 4);
  store<i32>(fl, f + 2);
}

/**
 * Schedules a large prime's next multiple `offset` bytes from the start of segment `segmentNumber` (only its low
 * bits matter: the ring is a power of two), unless it lies beyond the range, `bytesLeft` bytes from there.
 */
export function schedule(segmentNumber: i32, bytesLeft: i32, ar: u32, offset: i32, wheel: i32): void {
  if (offset >= bytesLeft) return;
  const ahead = offset / segmentBytes;
  push((segmentNumber + ahead) & ringMask, ar, <u32>(((offset - ahead * segmentBytes) << 3) + wheel));
}

/** Crosses off this segment's bucket, then moves each of its primes to the bucket of its next multiple. */
export function crossLarge(seg: usize, len: i32, segmentNumber: i32, bytesLeft: i32): void {
  const slot = segmentNumber & ringMask;
  const h = head + ((<usize>slot) << 2);
  let block = load<i32>(h);
  let f = load<i32>(fill + ((<usize>slot) << 2));
  store<i32>(h, -1);
  store<i32>(fill + ((<usize>slot) << 2), 0);
  while (block >= 0) {
    const data = blocks + <usize>block * BLOCK_BYTES;
    const end = data + ((<usize>f) << 2);
    for (let e = data; e < end; e += 8) {
      const ar = load<u32>(e);
      const state = load<u32>(e, 4);
      const r8 = (<i32>(ar & 7)) << 3;
      const i = <i32>(state & 7);
      const j = <i32>(state >>> 3);
      if (j >= len) continue; // only in the last, shorter segment: beyond the range
      const p = seg + <usize>j;
      store<u8>(p, load<u8>(p) | <u8>at(MASK, r8 + i));
      const next = j + <i32>(ar >>> 3) * at(GAP, i) + at(CARRY, r8 + i);
      schedule(segmentNumber, bytesLeft, ar, next, (i + 1) & 7);
    }
    const following = load<i32>(nextBlock + ((<usize>block) << 2));
    store<i32>(nextBlock + ((<usize>block) << 2), freeList);
    freeList = block;
    block = following;
    f = BLOCK_ENTRIES * 2; // every block behind the head is full
  }
}
