import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { computeRates } from '../../../lib/rates/csv-rates.ts';
import { releasesWrittenBuffers } from '../../../lib/rates/output-sink.ts';
import { sampleCountyCsvChunks } from '../../../lib/rates/sample-data.ts';

const OPTIONS = { numerator: 'cancer', denominator: 'population', bins: 10 };

/**
 * Keeps every written chunk by reference, as the S3 upload does until a part is sent: reuse would show here. Its
 * callback comes later, as a real consumer's does (a synchronous one would run only after the whole computation).
 */
class Keeper extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    setImmediate(cb);
  }
}

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cp-output-sink-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('output buffer reuse', () => {
  it('is only assumed of file streams', () => {
    const file = createWriteStream(path.join(dir, 'x'));
    expect(releasesWrittenBuffers(file)).toBe(true);
    file.destroy();
    expect(releasesWrittenBuffers(new PassThrough())).toBe(false);
    expect(releasesWrittenBuffers(new Keeper())).toBe(false);
  });

  it('writes a file byte-identical to the output of a stream that keeps its chunks', async () => {
    // ~7 MB of output: many 256 KiB buffers, each written, released and filled again.
    const input = Buffer.concat([...sampleCountyCsvChunks({ rows: 200_000, seed: 7 })]);
    const chunks = async function* (): AsyncGenerator<Buffer> {
      for (let o = 0; o < input.length; o += 1 << 20) yield input.subarray(o, o + (1 << 20));
    };
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const outputBuffers = (): number => alloc.mock.calls.filter(([size]) => size === 256 * 1024).length;
    const kept = new Keeper();
    const expected = await computeRates(chunks(), kept, OPTIONS);
    const keptBuffers = outputBuffers();
    alloc.mockClear();
    const file = path.join(dir, 'rates.csv');
    // The default 16 KiB high-water mark: every flush waits for the file, so buffers come back all the time.
    const out = createWriteStream(file);
    const result = await computeRates(chunks(), out, OPTIONS);
    out.end();
    await finished(out);
    const fileBuffers = outputBuffers();
    alloc.mockRestore();
    expect(result).toEqual(expected);
    // The file stream's buffers were filled again: a few in flight, not one per flush.
    expect(keptBuffers).toBeGreaterThan(20);
    expect(fileBuffers).toBeLessThan(5);
    expect((await readFile(file)).equals(Buffer.concat(kept.chunks))).toBe(true);
  });
});
