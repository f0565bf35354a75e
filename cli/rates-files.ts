/**
 * The rates command's files, judged before anything starts: the CSV (there, a regular readable file, within what one
 * worker takes when the run stays on one) and the --out directory (there, or makeable).
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { DEFAULT_RATES_MAX_INPUT_BYTES, MAX_SINGLE_PUT_BYTES } from '../lib/config.ts';
import { isGzipFileName } from '../lib/rates/gzip-input.ts';
import type { RatesSplit } from '../lib/rates/split.ts';
import { formatBytes } from '../lib/units.ts';
import { CliError } from './cli-error.ts';
import { shown } from './values.ts';

const invalid = (message: string, code = 'INVALID_ARGUMENT') => new CliError(message, code);

function statOrNull(file: string): Stats | null {
  try {
    return statSync(file);
  } catch {
    return null; // ENOENT, ENOTDIR (a path through a file), ENAMETOOLONG, ...
  }
}

/**
 * What one worker takes, refused here before anything is uploaded: the Lambda's RATES_MAX_INPUT_BYTES (the local
 * stack runs it with the default), and on EC2 the one PUT its rates.csv goes up in (the output is at least as big
 * as the input: every row gains a column). A split run has no such limit (each chunk is far below it): on the lambda
 * backend every file over ratesParallelAboveBytes is split unless `--workers 1` says otherwise (a .csv.gz never
 * is), on EC2 only when --workers or --chunk-size asks.
 */
const MAX_INPUT_BYTES = { lambda: DEFAULT_RATES_MAX_INPUT_BYTES, ec2: MAX_SINGLE_PUT_BYTES } as const;

export function checkInputFile(file: string, backend: 'lambda' | 'ec2', split: RatesSplit | undefined): string {
  if (file.trim() === '') throw invalid(`the CSV file name is empty, got ${shown(file)}`);
  const stats = statOrNull(file);
  if (stats === null) throw invalid(`no such file: ${file}`, 'FILE_NOT_FOUND');
  if (stats.isDirectory()) throw invalid(`${file} is a directory; rates needs a CSV file`, 'NOT_A_FILE');
  if (!stats.isFile()) throw invalid(`${file} is not a regular file; rates needs a CSV file`, 'NOT_A_FILE');
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw invalid(`${file} cannot be read (permission denied)`, 'FILE_NOT_READABLE');
  }
  // The EC2 worker (lib/rates/ec2-worker.ts) streams plain CSV only; the Lambda path reads .csv.gz through gunzip.
  if (backend === 'ec2' && isGzipFileName(file)) {
    throw invalid(
      `${file} is gzip-compressed, which only the lambda backend reads for now: use --backend lambda, or gunzip it first for --backend ec2`,
    );
  }
  const oneWorker = split?.workers === 1 || (backend === 'lambda' ? isGzipFileName(file) : split === undefined);
  if (oneWorker && stats.size > MAX_INPUT_BYTES[backend]) {
    throw invalid(
      `${file} is ${formatBytes(stats.size)}, over the ${formatBytes(MAX_INPUT_BYTES[backend])} one worker of the ${backend} backend takes` +
        (backend === 'lambda'
          ? isGzipFileName(file)
            ? ' (a .csv.gz runs on one worker): gunzip it, so it can be split across workers'
            : ': drop --workers 1, so it is split across workers'
          : ' (its rates.csv goes up in one S3 PUT): split it across instances with --workers N or --chunk-size SIZE'),
      'FILE_TOO_LARGE',
    );
  }
  return file;
}

/** --out: a directory, or a path where one can be made (its nearest existing parent is a directory). */
export function checkOutDir(dir: string): string {
  if (dir.trim() === '') throw invalid(`--out needs a directory, got ${shown(dir)}`);
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const stats = statOrNull(at);
    if (stats !== null) {
      if (!stats.isDirectory()) {
        throw invalid(
          at === path.resolve(dir)
            ? `--out must be a directory; ${dir} is a file`
            : `--out ${shown(dir)} cannot be made: ${at} is a file`,
        );
      }
      return dir;
    }
    if (path.dirname(at) === at) return dir;
  }
}

// ——— primes ———

/** Lib's field ← the flag that sets it. */
