/**
 * Which parts a multipart upload needs to hold the concatenation of objects of the given sizes, downloading as few
 * bytes through the caller as S3's part rules allow. Pure: `concat.ts` carries the plan out.
 *
 * S3's rules (UploadPart / UploadPartCopy / CompleteMultipartUpload in the S3 API reference): every part but the
 * last holds at least 5 MiB, none more than 5 GiB, at most 10,000 parts. A part is either copied server-side from
 * ONE range of ONE object (UploadPartCopy) or uploaded by the caller (UploadPart) — never both, so bytes of several
 * objects can share a part only by passing through the caller.
 *
 * THE SHAPE OF EVERY PLAN. Some objects are copied — each a range [head, size - tail) of it, at least the minimum
 * long (any length if it is the last object: its copy is then the last part) —, everything between two copied ranges
 * is a GAP of downloaded bytes (whole objects between them, the tail of the one before, the head of the one after).
 * A gap of G bytes is cut into uploaded parts of [min, 2 × min) bytes, so it must hold 0 or at least `min` bytes —
 * except the gap after the last copy, which may be anything (its last part is the upload's last). So a gap of R
 * bytes of whole objects costs R when R >= min, 0 when R = 0, and `min` when 0 < R < min: it borrows `min - R`
 * bytes from the copy before it (its tail) and/or the one after it (its head), each of which can give what it has
 * above the minimum (the last object: all but one byte).
 *
 * THE SEARCH. Which objects to copy decides the cost; lending only decides feasibility. Objects under the minimum are
 * never copied, except the last. A gap borrows from the copy before it first: that copy's spare bytes can serve no
 * other gap, whereas the next one's may be needed by the gap after it. Going from one copied object to the next
 * three choices are worth making: the next candidate, or one of the two after it, those skipped downloaded whole (when a
 * gap cannot borrow enough). Never three in a row: of three consecutive candidates downloaded whole, the middle one
 * could be copied instead, the gaps on both sides of it holding a whole object of >= min bytes. A small dynamic programme over the candidates, keeping per candidate the Pareto-best (cost,
 * spare bytes left) states, finds the least download; the property test in test/lib/aws/concat-plan.test.ts checks it
 * against an exhaustive search on small sizes. Ties go to the plan with more spare bytes left, then fewer objects
 * downloaded whole.
 */
export interface PartLimits {
  /** Every part but the last holds at least this many bytes (S3: 5 MiB). */
  minPart: number;
  /** No part holds more (S3: 5 GiB); at least twice `minPart`, so an even split of a long copy keeps the minimum. */
  maxPart: number;
}

export const S3_PART_LIMITS: PartLimits = { minPart: 5 * 1024 * 1024, maxPart: 5 * 1024 ** 3 };

/** S3's limit on the number of parts of one multipart upload. */
export const MAX_PARTS = 10_000;

/** Bytes [start, end) of the source at index `source`. */
export interface Piece {
  source: number;
  start: number;
  end: number;
}

export type PlannedPart =
  /** UploadPartCopy; `whole` when the piece is the whole object (no x-amz-copy-source-range needed). */
  | { kind: 'copy'; piece: Piece; whole: boolean }
  /** Pieces downloaded (GetObject, ranged when partial) and sent as one UploadPart of `bytes` bytes. */
  | { kind: 'upload'; pieces: Piece[]; bytes: number };

export interface ConcatPlan {
  parts: PlannedPart[];
  /** Bytes of the result (the sum of the sizes). */
  bytes: number;
  /** Bytes the caller downloads (and uploads again): the sum of the uploaded parts. */
  downloadBytes: number;
  /** The largest uploaded part: what the caller holds in memory at once. */
  largestUpload: number;
}

/** A state of the search: `item` copied, its head chosen; `spare` bytes of it may still lend to the next gap. */
interface State {
  item: number;
  cost: number;
  spare: number;
  head: number;
  /** Bytes the copy before lent to the gap before this one (that copy's tail). */
  borrowedFromPrevious: number;
  previous: State | undefined;
  dissolved: number;
}

interface Item {
  source: number;
  size: number;
}

export function planConcat(sizes: readonly number[], limits: PartLimits = S3_PART_LIMITS): ConcatPlan {
  const plan = planParts(sizes, limits, false);
  if (plan === null) throw new Error('concat plan: no plan found (a bug: an open-ended plan always exists)');
  return plan;
}

/**
 * A plan for objects whose parts are followed by more parts of the same upload (the split rates run's rates.csv,
 * between two chunks' own parts): every part holds at least `minPart`, the last one too. Null when none can.
 */
export function planClosedRun(sizes: readonly number[], limits: PartLimits = S3_PART_LIMITS): ConcatPlan | null {
  return planParts(sizes, limits, true);
}

function planParts(sizes: readonly number[], limits: PartLimits, closed: boolean): ConcatPlan | null {
  const { minPart, maxPart } = limits;
  if (!(Number.isSafeInteger(minPart) && minPart >= 1 && Number.isSafeInteger(maxPart) && maxPart >= 2 * minPart)) {
    throw new RangeError(
      `part limits must be integers with 1 <= minPart and 2 * minPart <= maxPart (got ${minPart}, ${maxPart})`,
    );
  }
  for (const [i, size] of sizes.entries()) {
    if (!(Number.isSafeInteger(size) && size >= 0)) throw new RangeError(`size ${i} is not a byte count: ${size}`);
  }
  const items: Item[] = [];
  for (const [source, size] of sizes.entries()) if (size > 0) items.push({ source, size });
  const bytes = sizes.reduce((sum, size) => sum + size, 0);
  if (items.length === 0) return { parts: [], bytes, downloadBytes: 0, largestUpload: 0 };

  const best = search(items, minPart, closed);
  if (best === undefined) return null;
  const parts = build(items, best, limits, closed);
  let downloadBytes = 0;
  let largestUpload = 0;
  for (const part of parts) {
    if (part.kind !== 'upload') continue;
    downloadBytes += part.bytes;
    largestUpload = Math.max(largestUpload, part.bytes);
  }
  return { parts, bytes, downloadBytes, largestUpload };
}

/** What the search needs to know of the objects. */
interface Layout {
  items: Item[];
  minPart: number;
  /** Items that may be copied: those of at least the minimum, and the last. */
  candidates: number[];
  /** The candidate after each candidate (-1 after the last), and each one's place in `candidates`. */
  next: Map<number, number>;
  rank: Map<number, number>;
  /** prefix[i] = bytes of items before item i. */
  prefix: number[];
  /** More parts follow: the last object is like the others, and the final gap needs the minimum too. */
  closed: boolean;
}

function layout(items: Item[], minPart: number, closed: boolean): Layout {
  const last = items.length - 1;
  const candidates = items.flatMap((item, i) => (item.size >= minPart || (i === last && !closed) ? [i] : []));
  const prefix = [0];
  for (const item of items) prefix.push(prefix.at(-1)! + item.size);
  return {
    items,
    minPart,
    candidates,
    next: new Map(candidates.map((c, k) => [c, candidates[k + 1] ?? -1])),
    rank: new Map(candidates.map((c, k) => [c, k])),
    prefix,
    closed,
  };
}

/** Bytes of the whole objects strictly between items a and b (a = -1: from the start; b = items.length: to the end). */
const between = (at: Layout, a: number, b: number): number => at.prefix[b]! - at.prefix[a + 1]!;

/** What item i can lend from its head: all above the minimum; the last object all but one byte (unless closed). */
const capacity = (at: Layout, i: number): number =>
  at.items[i]!.size - (i === at.items.length - 1 && !at.closed ? 1 : at.minPart);

/** Copying `to` next after `from` (the candidates between downloaded whole); undefined when the gap cannot borrow enough. */
function step(at: Layout, from: State, to: number, dissolved: number): State | undefined {
  const gap = between(at, from.item, to);
  const base = { item: to, previous: from, dissolved };
  if (gap === 0 || gap >= at.minPart) {
    return { ...base, cost: from.cost + gap, spare: capacity(at, to), head: 0, borrowedFromPrevious: 0 };
  }
  const need = at.minPart - gap;
  const borrowedFromPrevious = Math.min(need, from.spare);
  const head = need - borrowedFromPrevious;
  if (head > capacity(at, to)) return undefined;
  return { ...base, cost: from.cost + at.minPart, spare: capacity(at, to) - head, head, borrowedFromPrevious };
}

/**
 * The cheapest plan (see the top of the file), as its last state: the last object copied, or — `item` =
 * items.length — the path to the last copied object followed by a final gap of everything after it.
 */
function search(items: Item[], minPart: number, closed: boolean): State | undefined {
  const at = layout(items, minPart, closed);
  const last = items.length - 1;
  const states = new Map<number, State[]>();
  const offer = (state: State | undefined): void => {
    if (state === undefined) return;
    const kept = states.get(state.item) ?? [];
    if (kept.some((other) => dominates(other, state))) return;
    states.set(state.item, [...kept.filter((other) => !dominates(state, other)), state]);
  };
  const start: State = {
    item: -1,
    cost: 0,
    spare: 0,
    head: 0,
    borrowedFromPrevious: 0,
    previous: undefined,
    dissolved: 0,
  };
  let finish: State | undefined;
  for (const candidate of [-1, ...at.candidates]) {
    const left = at.candidates.length - (candidate === -1 ? 0 : at.rank.get(candidate)! + 1);
    for (const state of candidate === -1 ? [start] : (states.get(candidate) ?? [])) {
      // The next copy: the next candidate, or one of the two after it (those skipped downloaded whole).
      let to = candidate === -1 ? (at.candidates[0] ?? -1) : at.next.get(candidate)!;
      for (let dissolved = 0; dissolved <= 2 && to !== -1; dissolved++) {
        offer(step(at, state, to, dissolved));
        to = at.next.get(to)!;
      }
      // Or everything after this copy downloaded as the final gap, of any size (worth it only with few objects left);
      // closed, of the minimum, borrowing from this copy's tail what it lacks.
      if (left <= 3) {
        const gap = between(at, candidate, items.length);
        const borrowed = closed && gap > 0 && gap < minPart ? minPart - gap : 0;
        const cost = state.cost + gap + borrowed;
        if (borrowed <= state.spare && (finish === undefined || cost < finish.cost)) {
          finish = {
            item: items.length,
            cost,
            spare: 0,
            head: 0,
            borrowedFromPrevious: borrowed,
            previous: state,
            dissolved: left,
          };
        }
      }
    }
  }
  for (const state of states.get(last) ?? []) {
    if (finish === undefined || state.cost < finish.cost || (state.cost === finish.cost && finish.item !== last)) {
      finish = state;
    }
  }
  // Open-ended, always set: a gap holding a skipped candidate needs no lending, and the final gap has no minimum.
  return finish;
}

/** `a` is at least as good as `b` in every respect that matters for what follows. */
function dominates(a: State, b: State): boolean {
  return a.cost <= b.cost && a.spare >= b.spare && (a.cost < b.cost || a.spare > b.spare || a.dissolved <= b.dissolved);
}

/** The parts of the plan `finish` ends: gap, copy, gap, copy, ..., gap (empty gaps left out). */
function build(items: Item[], finish: State, limits: PartLimits, closed: boolean): PlannedPart[] {
  const chain: State[] = [];
  for (let state: State | undefined = finish; state !== undefined && state.item !== -1; state = state.previous) {
    chain.unshift(state);
  }
  const parts: PlannedPart[] = [];
  let gap: Piece[] = [];
  let after = -1; // the last item placed
  for (const [k, state] of chain.entries()) {
    for (let i = after + 1; i < Math.min(state.item, items.length); i++) gap.push(whole(items[i]!));
    const copied = items[state.item];
    if (copied === undefined) break; // the end: what is gathered is the final gap
    if (state.head > 0) gap.push({ source: copied.source, start: 0, end: state.head });
    parts.push(...uploadParts(gap, false, limits.minPart));
    const tail = chain[k + 1]?.borrowedFromPrevious ?? 0;
    parts.push(...copyRanges(copied, state.head, copied.size - tail, limits.maxPart));
    gap = tail > 0 ? [{ source: copied.source, start: copied.size - tail, end: copied.size }] : [];
    after = state.item;
  }
  parts.push(...uploadParts(gap, !closed, limits.minPart));
  return parts;
}

function whole(item: Item): Piece {
  return { source: item.source, start: 0, end: item.size };
}

/**
 * Bytes [start, end) of one object as copied parts of at most `maxPart` bytes, split evenly: with
 * n = ceil(length / maxPart) each range holds more than maxPart / 2 >= minPart bytes when n > 1.
 */
function copyRanges(item: Item, start: number, end: number, maxPart: number): PlannedPart[] {
  const length = end - start;
  const count = Math.ceil(length / maxPart);
  const base = Math.floor(length / count);
  const longer = length % count; // the first `longer` ranges hold one byte more
  const parts: PlannedPart[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    const to = at + base + (i < longer ? 1 : 0);
    parts.push({
      kind: 'copy',
      piece: { source: item.source, start: at, end: to },
      whole: at === 0 && to === item.size,
    });
    at = to;
  }
  return parts;
}

/**
 * A gap cut into uploaded parts of [min, 2 × min) bytes (the final gap's only part may be smaller), cut where an
 * object ends when one falls in the allowed range, so that fewer objects are read in two ranged GETs.
 */
function uploadParts(gap: Piece[], final: boolean, minPart: number): PlannedPart[] {
  const total = gap.reduce((sum, piece) => sum + piece.end - piece.start, 0);
  if (total === 0) return [];
  if (total < minPart && !final) throw new Error(`concat plan: a gap of ${total} bytes in the middle (a bug)`);
  const ends: number[] = []; // offsets in the gap where an object ends
  let offset = 0;
  for (const piece of gap) {
    offset += piece.end - piece.start;
    ends.push(offset);
  }
  const cuts: number[] = [];
  let at = 0;
  while (total - at >= 2 * minPart) {
    const lo = at + minPart;
    const hi = Math.min(at + 2 * minPart - 1, total - minPart);
    at = ends.findLast((end) => end >= lo && end <= hi) ?? lo;
    cuts.push(at);
  }
  cuts.push(total);
  const parts: PlannedPart[] = [];
  let from = 0;
  for (const to of cuts) {
    parts.push({ kind: 'upload', pieces: slice(gap, from, to), bytes: to - from });
    from = to;
  }
  return parts;
}

/** The pieces covering offsets [from, to) of the gap. */
function slice(gap: Piece[], from: number, to: number): Piece[] {
  const pieces: Piece[] = [];
  let offset = 0;
  for (const piece of gap) {
    const length = piece.end - piece.start;
    const lo = Math.max(from, offset);
    const hi = Math.min(to, offset + length);
    if (lo < hi)
      pieces.push({ source: piece.source, start: piece.start + lo - offset, end: piece.start + hi - offset });
    offset += length;
  }
  return pieces;
}
