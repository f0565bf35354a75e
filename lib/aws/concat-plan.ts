/**
 * Which parts a multipart upload needs to hold the concatenation of objects of the given sizes, with as few bytes
 * through the caller as S3's part rules allow. Pure: `concat.ts` carries the plan out.
 *
 * S3's rules (UploadPart / UploadPartCopy / CompleteMultipartUpload in the S3 API reference): every part but the
 * last holds at least 5 MiB, none more than 5 GiB, at most 10,000 parts. A part is either copied server-side from
 * ONE range of ONE object (UploadPartCopy) or uploaded by the caller (UploadPart) — never both, so bytes of several
 * objects can share a part only by passing through the caller.
 *
 * The plan, object by object (empty objects contribute nothing and are skipped):
 *   - an object under the minimum joins the pending run of downloaded bytes; the run becomes an uploaded part as
 *     soon as it reaches the minimum (so it holds < 2 × minimum bytes: the caller's memory bound);
 *   - an object of at least the minimum is copied server-side, in ranges of at most the maximum. When a run is
 *     pending, the run first borrows the object's first `minimum - run` bytes (the least that makes the run a
 *     valid part) and the rest is copied — if the rest is itself at least the minimum, or is the last part. If it
 *     is neither (the object is shorter than `minimum + borrowed`), no split of it is valid: the part holding the
 *     run must end inside the object and what follows would be a too-small part in the middle. Then the whole
 *     object is downloaded into the run, which becomes one part of < 2 × minimum bytes.
 * After the last object a pending run is the last part, whatever its size.
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

export function planConcat(sizes: readonly number[], limits: PartLimits = S3_PART_LIMITS): ConcatPlan {
  const { minPart, maxPart } = limits;
  if (!(Number.isSafeInteger(minPart) && minPart >= 1 && Number.isSafeInteger(maxPart) && maxPart >= 2 * minPart)) {
    throw new RangeError(
      `part limits must be integers with 1 <= minPart and 2 * minPart <= maxPart (got ${minPart}, ${maxPart})`,
    );
  }
  for (const [i, size] of sizes.entries()) {
    if (!(Number.isSafeInteger(size) && size >= 0)) throw new RangeError(`size ${i} is not a byte count: ${size}`);
  }
  const lastSource = sizes.findLastIndex((size) => size > 0);
  const parts: PlannedPart[] = [];
  let pending: Piece[] = [];
  let pendingBytes = 0;
  const take = (source: number, start: number, end: number): void => {
    pending.push({ source, start, end });
    pendingBytes += end - start;
  };
  const flush = (): void => {
    if (pendingBytes > 0) parts.push({ kind: 'upload', pieces: pending, bytes: pendingBytes });
    pending = [];
    pendingBytes = 0;
  };

  for (const [source, size] of sizes.entries()) {
    if (size === 0) continue;
    if (size < minPart) {
      take(source, 0, size);
      if (pendingBytes >= minPart) flush();
      continue;
    }
    let offset = 0;
    if (pendingBytes > 0) {
      const need = minPart - pendingBytes;
      const previous = parts.at(-1);
      // The tail of the copy before the run first: nothing else can use it any more, whereas the head of this
      // object is all that a later run could not get elsewhere... the next object's head aside.
      const fromPrevious =
        previous?.kind === 'copy' ? Math.min(need, previous.piece.end - previous.piece.start - minPart) : 0;
      const fromThis = need - fromPrevious;
      if (size - fromThis < minPart && source !== lastSource) {
        take(source, 0, size); // no valid split of this object: see the top of the file
        flush();
        continue;
      }
      if (fromPrevious > 0 && previous?.kind === 'copy') {
        const { piece } = previous;
        pending.unshift({ source: piece.source, start: piece.end - fromPrevious, end: piece.end });
        pendingBytes += fromPrevious;
        parts[parts.length - 1] = { kind: 'copy', piece: { ...piece, end: piece.end - fromPrevious }, whole: false };
      }
      if (fromThis > 0) take(source, 0, fromThis);
      flush();
      offset = fromThis;
    }
    parts.push(...copyRanges(source, offset, size, maxPart));
  }
  // A last run of one whole object is copied rather than downloaded: the last part may be small.
  const only = pending.length === 1 ? pending[0] : undefined;
  if (only !== undefined && only.start === 0 && only.end === sizes[only.source]) {
    parts.push({ kind: 'copy', piece: only, whole: true });
    pending = [];
    pendingBytes = 0;
  }
  flush();

  let downloadBytes = 0;
  let largestUpload = 0;
  for (const part of parts) {
    if (part.kind !== 'upload') continue;
    downloadBytes += part.bytes;
    largestUpload = Math.max(largestUpload, part.bytes);
  }
  return { parts, bytes: sizes.reduce((sum, size) => sum + size, 0), downloadBytes, largestUpload };
}

/**
 * Bytes [offset, size) of one object as copied parts of at most `maxPart` bytes, split evenly: with
 * n = ceil(length / maxPart) each range holds more than maxPart / 2 >= minPart bytes when n > 1.
 */
function copyRanges(source: number, offset: number, size: number, maxPart: number): PlannedPart[] {
  const length = size - offset;
  const count = Math.ceil(length / maxPart);
  const base = Math.floor(length / count);
  const longer = length % count; // the first `longer` ranges hold one byte more
  const parts: PlannedPart[] = [];
  let start = offset;
  for (let i = 0; i < count; i++) {
    const end = start + base + (i < longer ? 1 : 0);
    parts.push({ kind: 'copy', piece: { source, start, end }, whole: count === 1 && offset === 0 });
    start = end;
  }
  return parts;
}
