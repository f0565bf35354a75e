/**
 * Compressed uploads (`uploads/<name>.csv.gz`): the object's body streamed through gunzip into the rates core, with
 * the two ways a compressed file can fail on its own — a stream that is not valid gzip, and more CSV than the run
 * takes once decompressed — turned into errors the job reports in error.json instead of throwing.
 */
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UserError } from '../errors.ts';
import { formatBytes } from '../units.ts';

/** The one compression the job reads, chosen by the key's suffix (resultPrefixFor in upload-keys.ts). */
export const GZIP_SUFFIX = '.csv.gz';

/**
 * A local file the CLI uploads as gzip (`.gz`, any case): named so, it is taken to be so, and the job answers
 * BAD_GZIP if it is not. Here, not in client.ts, so the CLI's argument checks load no AWS client.
 */
export function isGzipFileName(file: string): boolean {
  return /\.gz$/i.test(file);
}

/** What summary.json says when a split was asked for, or the file was over the parallel threshold. */
export const GZIP_SINGLE_WORKER_REASON = 'gzip cannot be split: a gzip stream can only be read from its start';

/** The input of a compressed upload was refused: BAD_GZIP (not gzip, or cut or corrupt) or FILE_TOO_LARGE. */
export class GzipInputError extends UserError {
  declare readonly code: 'BAD_GZIP' | 'FILE_TOO_LARGE';

  constructor(code: 'BAD_GZIP' | 'FILE_TOO_LARGE', message: string) {
    super(code, message);
    this.name = 'GzipInputError';
    this.stack = `${this.name}: ${message}`;
  }
}

/**
 * The decompressed bytes of `body`. zlib's own errors (Z_DATA_ERROR: not gzip or a failed CRC; Z_BUF_ERROR: the
 * stream ends inside a member) become a BAD_GZIP GzipInputError; an error of `body` itself (a download cut short) is
 * rethrown as it is, so the run fails and Lambda retries it. More than `maxBytes` decompressed gives FILE_TOO_LARGE:
 * the uncompressed size is known only by reading, and this bound also stops a "gzip bomb" early.
 * Concatenated gzip members (as `cat a.gz b.gz` or pigz make) are read as one stream, as gunzip(1) does.
 */
export async function* gunzipped(
  body: Readable,
  where: string,
  maxBytes: number,
): AsyncGenerator<Buffer, void, undefined> {
  const gunzip = createGunzip();
  let bodyError: unknown;
  // `on`, not `once`: a body that errors again must not find no listener (an unhandled 'error' kills the process).
  body.on('error', (error) => {
    bodyError ??= error;
    gunzip.destroy(error);
  });
  body.pipe(gunzip);
  let bytes = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        throw new GzipInputError(
          'FILE_TOO_LARGE',
          `${where} decompresses to more than ${formatBytes(maxBytes)}, the most the rates Lambda takes (RATES_MAX_INPUT_BYTES): ` +
            'upload it uncompressed, so it can be split across workers, or gunzip it and run it on EC2 (`npx cloud-parallel rates <file> --backend ec2`).',
        );
      }
      yield chunk;
    }
  } catch (error) {
    if (error !== bodyError && isZlibError(error)) {
      throw new GzipInputError(
        'BAD_GZIP',
        `${where} is not a valid gzip file (${error.message}, after ${formatBytes(bytes)} decompressed): ` +
          'upload a gzip-compressed CSV (e.g. made by `gzip file.csv`), or name a plain CSV upload .csv.',
      );
    }
    throw error;
  } finally {
    body.unpipe(gunzip);
    body.destroy();
    gunzip.destroy();
  }
}

/** zlib's errors carry a `Z_*` code (Z_DATA_ERROR, Z_BUF_ERROR, ...), which no network or S3 error has. */
function isZlibError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('Z_');
}
