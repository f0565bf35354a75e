/**
 * Which part numbers of rates.csv's multipart upload each chunk may upload into, and how big its parts are (pure).
 *
 * The 10,000 part numbers are shared out evenly in chunk order: chunk i owns [1 + i·S, 1 + (i+1)·S) with
 * S = ⌊10,000 / chunks⌋. Its own parts take the first of them; RESERVED_SLOTS at least stay free for the run of
 * scratch objects that follows them (assemble-plan.ts), which may also take the numbers of the chunks after it that
 * uploaded no parts. The part size is chosen so the longest output a chunk can have fits in its grant: output grows
 * by the rate column (at most a comma and a 24-character double) per record, and the shortest record that yields
 * one is 4 bytes (`1,2\n`), so a chunk's output is under OUTPUT_GROWTH times its bytes.
 */
import { MAX_PARTS, S3_PART_LIMITS } from '../../aws/concat-plan.ts';
import type { ChunkRange } from './chunks.ts';
import type { PartGrant } from './tasks.ts';

/** Default part size: 8 MiB keeps a worker's buffers (two parts and the 5 MiB held back) near 21 MiB. */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
export const RESERVED_SLOTS = 2;
export const OUTPUT_GROWTH = 8;

export interface GrantRequest {
  ranges: readonly ChunkRange[];
  /** rates.csv's header line, which chunk 0 writes before its records. */
  headerBytes: number;
  key: string;
  uploadId: string;
  /** At least S3's 5 MiB; default DEFAULT_PART_BYTES. Grown when the chunks are too long for the numbers. */
  partBytes?: number;
}

export interface ChunkSlots {
  /** The first part number the chunk owns. */
  firstSlot: number;
  /** Null when no grant is possible (too many chunks for a part each, or parts over 5 GiB). */
  grant: PartGrant | null;
}

export function grantParts(request: GrantRequest): ChunkSlots[] {
  const { ranges } = request;
  const slots = Math.floor(MAX_PARTS / Math.max(1, ranges.length));
  const count = slots - RESERVED_SLOTS;
  const longest = Math.max(0, ...ranges.map((r) => r.e - r.s));
  const needed = Math.ceil((OUTPUT_GROWTH * longest + request.headerBytes) / Math.max(1, count));
  const partBytes = Math.max(request.partBytes ?? DEFAULT_PART_BYTES, S3_PART_LIMITS.minPart, needed);
  const granted = count >= 1 && partBytes <= S3_PART_LIMITS.maxPart;
  return ranges.map((_range, i) => {
    const firstSlot = 1 + i * slots;
    const grant = granted ? { key: request.key, uploadId: request.uploadId, first: firstSlot, count, partBytes } : null;
    return { firstSlot, grant };
  });
}
