/**
 * The rates job's scratch space (issue 12): the exact statistics spill 8 bytes per valid row to a directory (/tmp on
 * Lambda). A file whose worst-case spill (lib/rates/spill.ts) does not fit the directory's free space is refused up
 * front with FILE_TOO_LARGE in error.json, and running out of space during the spill (ENOSPC) ends the same way —
 * never as a thrown error that Lambda retries twice and then parks in the failed-events queue.
 *
 * Two variants of the low-space run: a real 4 MiB tmpfs (needs root to mount; skipped, saying so, otherwise), and a
 * portable one that always runs: the free-space reading injected, and ENOSPC injected into the spill's writes.
 */
import { execFileSync } from 'node:child_process';
import type * as realFs from 'node:fs';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { computeRates } from '../../../lib/rates/csv-rates.ts';
import { RatesFileError } from '../../../lib/rates/errors.ts';
import {
  runRatesJob,
  type RatesBatchReply,
  type RatesErrorReport,
  type RatesJobOutcome,
} from '../../../lib/rates/index.ts';
import { MIN_SPILLED_ROW_BYTES, SPILL_BYTES_PER_ROW, worstCaseSpillBytes } from '../../../lib/rates/spill.ts';
import { RateStatsAccumulator } from '../../../lib/rates/stats.ts';
import { lambdaContext } from '../../support/bad-input.ts';
import { startRatesHandler, stopRatesHandler, type RatesHandlerRig } from '../../support/rates-handler.ts';

/** The spill's system calls, as the test arranges them: ENOSPC on demand, and a record of the files opened. */
const fault = vi.hoisted(() => ({ enospc: false, opened: [] as string[] }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = ((path: realFs.PathLike, ...rest: unknown[]) => {
    if (String(path).endsWith('.f64')) fault.opened.push(String(path));
    return (fs.openSync as (...args: unknown[]) => number)(path, ...rest);
  }) as typeof fs.openSync;
  const writeSync = ((fd: number, buffer: NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    // Only the spill writes megabytes at once with writeSync in this process (the S3 server is a child process).
    if (fault.enospc && buffer.byteLength >= 1 << 20)
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
        code: 'ENOSPC',
        errno: -28,
        syscall: 'write',
      });
    return (fs.writeSync as (...args: unknown[]) => number)(fd, buffer, ...rest);
  }) as typeof fs.writeSync;
  return { ...fs, default: { ...fs, openSync, writeSync }, openSync, writeSync };
});

const BUCKET = 'rates-spill';
const DEFAULTS = { numerator: 'cases', denominator: 'people', bins: 10 };
/** 1.2M distinct rates: more than the accumulator keeps in memory (1M), so 8 MB are spilled; ~13 MB of CSV. */
const SPILLING_CSV = (() => {
  const lines = ['cases,people'];
  for (let i = 0; i < 1_200_000; i++) lines.push(`${i},7`);
  return `${lines.join('\n')}\n`;
})();

/** A 4 MiB tmpfs, when this process may mount one. */
function mountTmpfs(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'not root: mounting a tmpfs needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message}`;
  }
}

let rig: RatesHandlerRig | undefined;
let plainSpillDir: string;
let tmpfsDir: string;
let tmpfsSkipReason: string | null;

beforeAll(async () => {
  plainSpillDir = mkdtempSync(join(tmpdir(), 'cp-spill-plain-'));
  tmpfsDir = mkdtempSync(join(tmpdir(), 'cp-spill-tmpfs-'));
  tmpfsSkipReason = mountTmpfs(tmpfsDir);
  if (tmpfsSkipReason !== null)
    console.warn(`rates-spill: the tmpfs variant is skipped (${tmpfsSkipReason}); the portable variant runs`);
  rig = await startRatesHandler({
    bucket: BUCKET,
    name: 'rates-spill',
    env: { RATES_SPILL_DIR: plainSpillDir, RATES_NUMERATOR: 'cases', RATES_DENOMINATOR: 'people' },
  });
  await rig.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/spilling.csv', Body: SPILLING_CSV }));
}, 60_000);

afterAll(async () => {
  await stopRatesHandler(rig);
  if (tmpfsSkipReason === null) execFileSync('umount', [tmpfsDir]);
  rmSync(tmpfsDir, { recursive: true, force: true });
  rmSync(plainSpillDir, { recursive: true, force: true });
});

beforeEach(() => {
  fault.enospc = false;
  fault.opened.length = 0;
});

async function errorJson(name: string): Promise<RatesErrorReport> {
  const object = await rig!.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `results/${name}/error.json` }));
  return JSON.parse(await object.Body!.transformToString()) as RatesErrorReport;
}

function expectFileTooLarge(outcome: RatesJobOutcome | undefined): asserts outcome is RatesErrorReport {
  expect(outcome).toMatchObject({
    status: 'error',
    error: { code: 'FILE_TOO_LARGE' },
    errorObject: `s3://${BUCKET}/results/spilling/error.json`,
  });
}

describe('the worst-case spill', () => {
  it('is 8 bytes per 4 input bytes, and the parser takes no valid row shorter than `1,2\\n`', async () => {
    expect(worstCaseSpillBytes(4 * 1024 ** 3)).toBe(8 * 1024 ** 3);
    expect(worstCaseSpillBytes(0)).toBe(0);
    expect(() => worstCaseSpillBytes(-1)).toThrow(RangeError);
    const rowsOf = async (csv: string, options = DEFAULTS): Promise<number> => {
      try {
        return (await computeRates(Readable.from([Buffer.from(csv)]), new PassThrough().resume(), options)).rows;
      } catch (error) {
        if (error instanceof RatesFileError && ['NO_VALID_ROWS', 'NOT_CSV'].includes(error.code)) return 0;
        throw error;
      }
    };
    // The tight case: a 4-byte row is valid and spills 8 bytes.
    expect(await rowsOf('cases,people\n1,2\n')).toBe(1);
    expect(MIN_SPILLED_ROW_BYTES * 2).toBe(SPILL_BYTES_PER_ROW);
    // Every body of up to 2 characters, with its \n under 4 bytes, is no row (CR included: it ends no record).
    const alphabet = ['1', ',', '\r', '"', ' ', '.', '-', '+', 'e', '\t'];
    const bodies = ['', ...alphabet, ...alphabet.flatMap((a) => alphabet.map((b) => a + b))];
    for (const body of bodies) expect(await rowsOf(`cases,people\n${body}\n`), JSON.stringify(body)).toBe(0);
    // CR-only line endings give no rows at all (the header refuses them).
    expect(await rowsOf('cases,people\r1,2\r3,4\r')).toBe(0);
  });

  it('a column divided by itself (2-byte rows, `1\\n`) spills nothing: its rates are all 1, counted not stored', async () => {
    const lines = ['x'];
    for (let i = 0; i < 1_100_000; i++) lines.push(String((i % 9) + 1));
    const result = await computeRates(
      Readable.from([Buffer.from(`${lines.join('\n')}\n`)]),
      new PassThrough().resume(),
      { numerator: 'x', denominator: 'x', bins: 5 },
      { spillDir: plainSpillDir },
    );
    expect(result.rows).toBe(1_100_000);
    expect(result.stats).toMatchObject({ min: 1, max: 1, mean: 1, median: 1, p95: 1 });
    expect(fault.opened).toEqual([]);
  });

  it('a run of equal values is spilled as those values once another arrives, and the statistics stay exact', async () => {
    const values = [...Array<number>(10).fill(2.5), -0, 0, ...Array<number>(9).fill(0), 7, 1, 2.5];
    const reference = new RateStatsAccumulator({ memoryLimit: 1 << 20, tmpDir: plainSpillDir });
    const small = new RateStatsAccumulator({ memoryLimit: 4, tmpDir: plainSpillDir });
    for (const v of values.slice(0, 8)) small.add(v);
    expect(small.spillPath).toBeNull(); // eight 2.5s: counted, not written
    for (const v of values) reference.add(v);
    for (const v of values.slice(8)) small.add(v);
    expect(small.spillPath).not.toBeNull();
    expect(await small.finish(4)).toEqual(await reference.finish(4));
  });
});

describe('a low-space run ends in error.json, not in a retried ENOSPC (portable: no mount needed)', () => {
  it('refuses up front what the spill directory cannot hold, naming what is needed and available', async () => {
    const outcome = await runRatesJob(
      rig!.s3,
      { bucket: BUCKET, key: 'uploads/spilling.csv' },
      DEFAULTS,
      { maxInputBytes: 4 * 1024 ** 3, spillDir: plainSpillDir },
      { freeSpillBytes: async () => 1024 * 1024 },
    );
    expectFileTooLarge(outcome);
    const needed = worstCaseSpillBytes(Buffer.byteLength(SPILLING_CSV)).toLocaleString('en-US');
    expect(outcome.error.message).toContain(`may need up to ${needed} bytes`);
    expect(outcome.error.message).toContain(`${plainSpillDir} has 1,048,576 bytes (1.0 MiB) free`);
    expect(outcome.error.message).toMatch(/ephemeralStorageSize.*--backend ec2/);
    expect(await errorJson('spilling')).toMatchObject({ error: { code: 'FILE_TOO_LARGE' } });
    expect(fault.opened).toEqual([]); // not a byte was spilled
  });

  it('turns ENOSPC during the spill into FILE_TOO_LARGE from the handler, which does not throw, and leaves no spill file', async () => {
    fault.enospc = true;
    const reply = (await rig!.handler(
      { key: 'uploads/spilling.csv' },
      lambdaContext('cloud-parallel-test-rates'),
    )) as RatesBatchReply;
    const [outcome] = reply.results;
    expectFileTooLarge(outcome);
    expect(outcome.error.message).toMatch(
      /scratch space ran out \(ENOSPC\) in .*raise the rates function's ephemeralStorageSize/,
    );
    expect(await errorJson('spilling')).toEqual(outcome);
    expect(fault.opened).toHaveLength(1);
    expect(readdirSync(plainSpillDir)).toEqual([]);
  }, 60_000);

  it('control: with room, the same file is processed', async () => {
    const reply = (await rig!.handler(
      { key: 'uploads/spilling.csv' },
      lambdaContext('cloud-parallel-test-rates'),
    )) as RatesBatchReply;
    expect(reply.results[0]).toMatchObject({ status: 'ok', rows: 1_200_000 });
    expect(fault.opened).toHaveLength(1); // it did spill
    expect(readdirSync(plainSpillDir)).toEqual([]);
  }, 60_000);
});

/** Decided when the tests are collected; a failed mount (no CAP_SYS_ADMIN) skips them at run time, with the reason. */
const IS_ROOT = process.getuid?.() === 0;

describe(`a low-space run on a real 4 MiB tmpfs${IS_ROOT ? '' : ' (skipped: not root, and mounting a tmpfs needs root)'}`, () => {
  it.skipIf(!IS_ROOT)('refuses up front from the real statfs reading', async (context) => {
    if (tmpfsSkipReason !== null) context.skip(tmpfsSkipReason);
    const outcome = await runRatesJob(rig!.s3, { bucket: BUCKET, key: 'uploads/spilling.csv' }, DEFAULTS, {
      maxInputBytes: 4 * 1024 ** 3,
      spillDir: tmpfsDir,
    });
    expectFileTooLarge(outcome);
    expect(outcome.error.message).toContain(`${tmpfsDir} has 4,194,304 bytes (4.0 MiB) free`);
  });

  it.skipIf(!IS_ROOT)(
    'ends a real ENOSPC (the space went between the check and the spill) in error.json and cleans up',
    async (context) => {
      if (tmpfsSkipReason !== null) context.skip(tmpfsSkipReason);
      const outcome = await runRatesJob(
        rig!.s3,
        { bucket: BUCKET, key: 'uploads/spilling.csv' },
        DEFAULTS,
        { maxInputBytes: 4 * 1024 ** 3, spillDir: tmpfsDir },
        { freeSpillBytes: async () => Number.MAX_SAFE_INTEGER }, // as if the tmpfs had been empty at the check
      );
      expectFileTooLarge(outcome);
      expect(outcome.error.message).toMatch(/scratch space ran out \(ENOSPC\)/);
      expect(fault.opened).toHaveLength(1);
      expect(fault.opened[0]!.startsWith(tmpfsDir)).toBe(true);
      expect(readdirSync(tmpfsDir)).toEqual([]);
    },
    60_000,
  );
});
