/**
 * gunzipped (lib/rates/gzip-input.ts) on its own: which failures are the file's (BAD_GZIP, FILE_TOO_LARGE, reported
 * in error.json) and which are the download's (thrown as they are, so Lambda retries the run).
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GzipInputError, gunzipped } from '../../../lib/rates/gzip-input.ts';

const CSV = Buffer.from(`a,b\n${'1,2\n'.repeat(50_000)}`);
const GZ = gzipSync(CSV);

async function drain(body: Readable, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of gunzipped(body, 's3://b/uploads/x.csv.gz', maxBytes)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('gunzipped', () => {
  it('gives back the CSV, fed in small pieces', async () => {
    const pieces = Array.from({ length: Math.ceil(GZ.length / 7) }, (_, i) => GZ.subarray(i * 7, i * 7 + 7));
    expect((await drain(Readable.from(pieces))).equals(CSV)).toBe(true);
  });

  it('rethrows an error of the download itself, not as BAD_GZIP, and destroys the body', async () => {
    const cut = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const body = new Readable({ read() {} });
    body.push(GZ.subarray(0, 100));
    setTimeout(() => body.destroy(cut), 10);
    await expect(drain(body)).rejects.toBe(cut);
    expect(body.destroyed).toBe(true);
  });

  it('makes zlib errors BAD_GZIP, saying how far it got', async () => {
    const error = await drain(Readable.from([GZ.subarray(0, GZ.length - 10)])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GzipInputError);
    expect(error).toMatchObject({ code: 'BAD_GZIP' });
    expect((error as Error).message).toMatch(
      /^s3:\/\/b\/uploads\/x\.csv\.gz is not a valid gzip file \(unexpected end of file, after .* decompressed\)/,
    );
  });

  it('stops at maxBytes of CSV with FILE_TOO_LARGE, and destroys the body', async () => {
    const body = Readable.from([GZ]);
    const error = await drain(body, 1000).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FILE_TOO_LARGE' });
    expect((error as Error).message).toMatch(/decompresses to more than 1,000 bytes/);
    expect(body.destroyed).toBe(true);
    // Exactly the limit is allowed.
    expect((await drain(Readable.from([GZ]), CSV.length)).length).toBe(CSV.length);
  });
});
