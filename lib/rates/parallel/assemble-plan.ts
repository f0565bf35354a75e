/**
 * How rates.csv's multipart upload is finished once every chunk is verified (pure; assemble.ts carries it out).
 *
 * In file order each chunk left: the parts it uploaded itself (part-writer.ts), then its scratch object (the bytes it
 * held back, or its whole output when it was granted no parts or had too little to cut one). Between two chunks'
 * own parts lies a RUN of scratch objects — the first chunk's held-back bytes and the whole outputs of the chunks up
 * to the next one with parts — which concat-plan.ts turns into parts: copied server-side when they are big enough,
 * stitched through the coordinator when they are not (only ever a few MiB, and only next to tiny outputs). The run
 * takes the part numbers between the two chunks' own parts; each chunk's grant leaves it room (coordinator.ts).
 *
 * Only the run that ends the file may end with a small part; a run followed by a chunk's own parts is planned
 * closed (planClosedRun: every part at least 5 MiB). When it cannot be (tiny outputs before a chunk with parts, and
 * too little held back before them to lend), that next chunk must be parsed again without a grant, its whole output
 * a scratch object the run can take bytes from: the plan names those chunks instead.
 */
import {
  type ConcatPlan,
  MAX_PARTS,
  type PartLimits,
  planClosedRun,
  planConcat,
  S3_PART_LIMITS,
} from '../../aws/concat-plan.ts';
import type { AssemblyFigures } from '../outcome.ts';
import type { UploadedPart } from './tasks.ts';

export interface ChunkPieces {
  /** The parts the chunk uploaded, in order. */
  parts: readonly UploadedPart[];
  /** Bytes of its scratch object: the rest of its output. */
  scratchBytes: number;
  /** The first part number reserved for the chunk (its grant's first, or where it would have been). */
  firstSlot: number;
}

export type AssemblyStep =
  | { kind: 'placed'; part: UploadedPart }
  /** `chunks[k]` is the source `k` of `plan`; its parts take the numbers from `firstPartNumber` on. */
  | { kind: 'run'; chunks: number[]; firstPartNumber: number; plan: ConcatPlan };

export type AssemblyPlan =
  | { ok: true; steps: AssemblyStep[]; bytes: number }
  /** Parse these chunks again without a grant, then plan again. */
  | { ok: false; withoutParts: number[] };

interface OpenRun {
  chunks: number[];
  firstPartNumber: number;
}

export function planAssembly(chunks: readonly ChunkPieces[], limits: PartLimits = S3_PART_LIMITS): AssemblyPlan {
  const steps: AssemblyStep[] = [];
  const withoutParts: number[] = [];
  let bytes = 0;
  let run: OpenRun | null = null;
  for (const [index, chunk] of chunks.entries()) {
    const first = chunk.parts[0];
    if (first !== undefined) {
      checkParts(index, chunk);
      if (run !== null) {
        const closed = closeRun(run, chunks, first.partNumber, false, limits);
        if (closed === null) withoutParts.push(index);
        else steps.push(closed);
      }
      for (const part of chunk.parts) {
        steps.push({ kind: 'placed', part });
        bytes += part.bytes;
      }
      run = { chunks: [index], firstPartNumber: (chunk.parts.at(-1) as UploadedPart).partNumber + 1 };
    } else {
      run ??= { chunks: [], firstPartNumber: chunk.firstSlot };
      run.chunks.push(index);
    }
    bytes += chunk.scratchBytes;
  }
  if (run !== null) {
    const closed = closeRun(run, chunks, MAX_PARTS + 1, true, limits);
    if (closed === null)
      throw new Error(`internal: the last ${run.chunks.length} chunk(s) do not fit in the parts left`);
    steps.push(closed);
  }
  return withoutParts.length > 0 ? { ok: false, withoutParts } : { ok: true, steps, bytes };
}

/** The run's parts, or null when they cannot all be 5 MiB (unless `last`) or do not fit before `endPartNumber`. */
function closeRun(
  run: OpenRun,
  chunks: readonly ChunkPieces[],
  endPartNumber: number,
  last: boolean,
  limits: PartLimits,
): AssemblyStep | null {
  const sizes = run.chunks.map((index) => (chunks[index] as ChunkPieces).scratchBytes);
  const plan = last ? planConcat(sizes, limits) : planClosedRun(sizes, limits);
  if (plan === null || run.firstPartNumber + plan.parts.length > endPartNumber) return null;
  // planClosedRun promises it; a short part would only be refused by S3 at the very end, so check here.
  const partSizes = plan.parts.map((part) => (part.kind === 'copy' ? part.piece.end - part.piece.start : part.bytes));
  const short = partSizes.findIndex((size, k) => size < limits.minPart && !(last && k === partSizes.length - 1));
  if (short !== -1)
    throw new Error(`internal: part ${short} of a run of rates.csv would hold ${partSizes[short]} bytes`);
  return { kind: 'run', chunks: run.chunks, firstPartNumber: run.firstPartNumber, plan };
}

/** A worker's parts must be the consecutive numbers of its grant: anything else is a bug, not a file's fault. */
function checkParts(index: number, chunk: ChunkPieces): void {
  chunk.parts.forEach((part, k) => {
    if (part.partNumber !== chunk.firstSlot + k) {
      throw new Error(
        `internal: chunk ${index} uploaded part ${part.partNumber} where part ${chunk.firstSlot + k} was due`,
      );
    }
  });
}

/** What the steps put where, for the summary (all but the re-runs, which the coordinator counts). */
export function assemblyFigures(steps: readonly AssemblyStep[]): Omit<AssemblyFigures, 'rerunsWithoutParts'> {
  const figures = {
    workerParts: 0,
    workerBytes: 0,
    copiedParts: 0,
    copiedBytes: 0,
    stitchedParts: 0,
    stitchedBytes: 0,
  };
  for (const step of steps) {
    if (step.kind === 'placed') {
      figures.workerParts += 1;
      figures.workerBytes += step.part.bytes;
      continue;
    }
    for (const part of step.plan.parts) {
      if (part.kind === 'copy') {
        figures.copiedParts += 1;
        figures.copiedBytes += part.piece.end - part.piece.start;
      } else {
        figures.stitchedParts += 1;
        figures.stitchedBytes += part.bytes;
      }
    }
  }
  return figures;
}
