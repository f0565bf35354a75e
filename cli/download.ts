import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RatesJobOutcome } from '../lib/rates/outcome.ts';

/**
 * `--out DIR`: the objects a run left in S3, each downloaded into `outDir` (made if missing) under the last part of
 * its key, streamed. Shared by `rates` (histogram, a split run's timeline, summary) and `primes` (timeline, summary).
 * Returns the paths.
 */
export async function downloadObjects(
  s3: S3Client,
  bucket: string,
  keys: readonly string[],
  outDir: string,
): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const paths: string[] = [];
  for (const key of keys) {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const at = path.join(outDir, path.posix.basename(key));
    await pipeline(object.Body as Readable, createWriteStream(at));
    paths.push(at);
  }
  return paths;
}

/**
 * A rates run's outputs (rates.csv, the histogram, a split run's timeline, summary.json last) into `outDir`, when the
 * run succeeded and an --out was given.
 */
export async function downloadRatesOutputs(
  s3: S3Client,
  bucket: string,
  resultPrefix: string,
  outcome: RatesJobOutcome,
  outDir: string | undefined,
  say: (line: string) => void,
): Promise<void> {
  if (outcome.status !== 'ok' || !outDir) return;
  // A split run's timeline is part of its set (summary.json lists it); a single run has none to fetch.
  const timeline = outcome.outputs.timeline === undefined ? [] : ['timeline.png', 'timeline.svg', 'timeline.json'];
  const names = ['rates.csv', 'histogram.png', 'histogram.svg', ...timeline, 'summary.json'];
  await downloadObjects(
    s3,
    bucket,
    names.map((name) => `${resultPrefix}${name}`),
    outDir,
  );
  say(`downloaded ${names.slice(0, -1).join(', ')} and summary.json to ${outDir}`);
}
