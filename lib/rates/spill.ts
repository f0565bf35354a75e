import { randomUUID } from 'node:crypto';
import { closeSync, openSync, read, unlinkSync, writeSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../units.ts';
import { InfrastructureError } from '../errors.ts';

/**
 * How much scratch space the exact statistics (lib/rates/stats.ts) may need for an input, and what happens when
 * there is not that much. The Lambda's and the tests' single source for the arithmetic: serverless.yml's
 * `ephemeralStorageSize` of the rates function is checked against `worstCaseSpillBytes(RATES_MAX_INPUT_BYTES)` by
 * test/serverless-yml.test.ts, and the job refuses up front what the spill directory cannot hold.
 */

/** RateStatsAccumulator keeps every rate as a float64: 8 bytes per valid row once its memory buffer is full. */
export const SPILL_BYTES_PER_ROW = 8;

/**
 * The fewest input bytes a valid row can take, when the numerator and denominator are different columns: two
 * numeric fields of one character each, the comma between them and the `\n` that ends the record (`1,2\n`).
 * Nothing shorter is a row: the parser (rates-engine.ts) ends records only at `\n` — a CR-only line ending is not one
 * (the header refuses it; in a row it stays inside a field, which is then no number) — a blank line is skipped,
 * and an empty field is no number. The last row may lack its `\n` (3 bytes), but the header it follows (`a,b\n`) is
 * at least 4, so rows ≤ floor(inputBytes / 4) holds for every file.
 *
 * When numerator and denominator are the same column a row can be 2 bytes (`1\n`), but every valid rate is then
 * x / x = 1 exactly (IEEE division of a finite positive x by itself), and the accumulator stores a run of equal
 * values as a count, not on disk: that file spills nothing.
 */
export const MIN_SPILLED_ROW_BYTES = 4;

/** The most bytes the statistics can spill for an input of `inputBytes` bytes (see MIN_SPILLED_ROW_BYTES). */
export function worstCaseSpillBytes(inputBytes: number): number {
  if (!Number.isSafeInteger(inputBytes) || inputBytes < 0)
    throw new RangeError(`inputBytes must be a non-negative whole number, got ${inputBytes}`);
  return Math.floor(inputBytes / MIN_SPILLED_ROW_BYTES) * SPILL_BYTES_PER_ROW;
}

/** Bytes an unprivileged process may still write in `dir` (statfs: available blocks × block size). */
export async function freeSpillBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/** What the user can do when the spill does not fit, said the same way up front and after an ENOSPC. */
const REMEDY =
  "raise the rates function's ephemeralStorageSize in serverless.yml (up to 10,240 MB; on a laptop, free space in RATES_SPILL_DIR), " +
  'run it on EC2 (`npx cloud-parallel rates <file> --backend ec2`), or split the file';

/** The FILE_TOO_LARGE message when the worst case for `inputBytes` exceeds what `dir` has free. */
export function spillTooSmallMessage(inputBytes: number, dir: string, freeBytes: number): string {
  return (
    `The file is ${formatBytes(inputBytes)}; its exact statistics may need up to ${formatBytes(worstCaseSpillBytes(inputBytes))} of scratch space ` +
    `(${SPILL_BYTES_PER_ROW} bytes per row, rows of at least ${MIN_SPILLED_ROW_BYTES} bytes), but the spill directory ${dir} has ${formatBytes(freeBytes)} free: ${REMEDY}.`
  );
}

/**
 * The spill ran out of space (ENOSPC, or EDQUOT under a quota) although the up-front check passed: something else
 * used the space meanwhile. A property of this input on this machine, not a fault a retry would fix.
 */
export class SpillSpaceError extends InfrastructureError {
  constructor(
    readonly dir: string,
    readonly spilledBytes: number,
    cause: NodeJS.ErrnoException,
  ) {
    super(
      `The statistics' scratch space ran out (${cause.code}) in ${dir} after ${formatBytes(spilledBytes)} had been written: ${REMEDY}.`,
      { cause },
    );
    this.name = 'SpillSpaceError';
  }

  /** What the job reports it as (lib/rates/job.ts): the machine had too little space for this file. */
  override get code(): string {
    return 'FILE_TOO_LARGE';
  }
}

/** ENOSPC or EDQUOT: the disk, or the user's quota on it, is full. */
export function isOutOfSpace(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * The statistics' scratch file: float64 values appended as the accumulator's memory buffer fills, read back in
 * blocks for each pass. Created on the first write in `dir`, removed by remove().
 */
export class SpillFile {
  path: string | null = null;
  /** Values written so far. */
  values = 0;
  private fd: number | null = null;

  constructor(private readonly dir: string) {}

  /** Whether the file has been opened (a failed open leaves it unstarted). */
  get started(): boolean {
    return this.fd !== null;
  }

  /** Appends `values`; a full disk or quota becomes a SpillSpaceError. */
  write(values: Float64Array): void {
    try {
      if (this.fd === null) {
        const file = join(this.dir, `rates-${process.pid}-${randomUUID()}.f64`);
        // 'wx+' refuses to reuse an existing path, so we never clobber another job's file.
        this.fd = openSync(file, 'wx+', 0o600);
        this.path = file;
      }
      // Synchronous on purpose: add() stays synchronous for the hot loop, and an 8 MB write into the page
      // cache takes a few ms once per million rows.
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.length * 8);
      let done = 0;
      while (done < bytes.length) {
        done += writeSync(this.fd, bytes, done, bytes.length - done, this.values * 8 + done);
      }
      this.values += values.length;
    } catch (error) {
      if (isOutOfSpace(error)) throw new SpillSpaceError(this.dir, this.values * 8, error);
      throw error;
    }
  }

  /** Calls `visit` with the values written, in order, in blocks of at most `blockValues`. */
  async forEachBlock(blockValues: number, visit: (values: Float64Array) => void): Promise<void> {
    if (this.values === 0 || this.fd === null) return;
    const fd = this.fd;
    const block = new Float64Array(Math.min(blockValues, this.values));
    const bytes = new Uint8Array(block.buffer);
    const total = this.values * 8;
    let pos = 0;
    while (pos < total) {
      const want = Math.min(bytes.length, total - pos);
      let got = 0;
      while (got < want) {
        const r = await readAt(fd, bytes, got, want - got, pos + got);
        if (r === 0) throw new Error(`spill file ${this.path ?? ''} is shorter than expected`);
        got += r;
      }
      visit(block.subarray(0, want / 8));
      pos += want;
    }
  }

  /** Closes and deletes the file. Safe to call more than once. */
  remove(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // Already closed or never fully opened; the unlink below is what matters.
      }
      this.fd = null;
    }
    if (this.path !== null) {
      try {
        unlinkSync(this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      this.path = null;
    }
  }
}

function readAt(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}
