/**
 * What submitRatesRun puts on the upload (lib/rates/client.ts): the run's options and split as S3 user metadata, in
 * the form splitFromMetadata reads back — the round trip the CLI's `--workers` / `--chunk-size` take to the job. The
 * S3 client is real; a middleware at its first step records each command and answers it instead of the network.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { submitRatesRun } from '../../../lib/rates/client.ts';
import { splitFromMetadata } from '../../../lib/rates/split.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-rates-client-'));
const file = path.join(dir, 'counties.csv');
writeFileSync(file, 'cancer,population\n1,100\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The metadata of each PutObject the client sends (a file this small goes up in one). */
function recordingS3(): {
  s3: S3Client;
  metadata: Record<string, string>[];
  puts: { Key: string; ContentType: string; ContentEncoding?: string }[];
} {
  const s3 = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://127.0.0.1:1',
  });
  const metadata: Record<string, string>[] = [];
  const puts: { Key: string; ContentType: string; ContentEncoding?: string }[] = [];
  s3.middlewareStack.add(
    (_next, context) => async (args) => {
      if (context.commandName !== 'PutObjectCommand') throw new Error(`unexpected ${context.commandName}`);
      const { Metadata, Key, ContentType, ContentEncoding } = args.input as {
        Metadata: Record<string, string>;
        Key: string;
        ContentType: string;
        ContentEncoding?: string;
      };
      metadata.push(Metadata);
      puts.push({ Key, ContentType, ...(ContentEncoding === undefined ? {} : { ContentEncoding }) });
      return { output: { ETag: '"etag"', $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'answerHere' },
  );
  return { s3, metadata, puts };
}

describe('submitRatesRun: the split travels as metadata', () => {
  it.each<[string, { workers?: number; chunkBytes?: number } | undefined, Record<string, string>]>([
    ['no split', undefined, {}],
    ['workers', { workers: 4 }, { workers: '4' }],
    ['one worker', { workers: 1 }, { workers: '1' }],
    ['a chunk size', { chunkBytes: 67_108_864 }, { 'chunk-bytes': '67108864' }],
  ])('%s', async (_label, split, expected) => {
    const { s3, metadata } = recordingS3();
    const run = await submitRatesRun(s3, { bucket: 'b', file, options: { bins: 5 }, ...(split ? { split } : {}) });
    expect(metadata).toEqual([{ 'run-id': run.runId, bins: '5', ...expected }]);
    // What the job reads back is what was asked for.
    expect(splitFromMetadata(metadata[0])).toEqual(split ?? {});
  });
});

describe('submitRatesRun: a .gz file', () => {
  it('goes up as it is, under uploads/<name>.csv.gz, as application/gzip without Content-Encoding', async () => {
    const gz = path.join(dir, 'counties.csv.gz');
    writeFileSync(gz, gzipSync('cancer,population\n1,100\n'));
    const { s3, puts } = recordingS3();
    const run = await submitRatesRun(s3, { bucket: 'b', file: gz });
    expect(puts).toEqual([{ Key: 'uploads/counties.csv.gz', ContentType: 'application/gzip' }]);
    expect(run.resultPrefix).toBe('results/counties/');
  });

  it('a plain file stays text/csv', async () => {
    const { s3, puts } = recordingS3();
    await submitRatesRun(s3, { bucket: 'b', file });
    expect(puts).toEqual([{ Key: 'uploads/counties.csv', ContentType: 'text/csv' }]);
  });
});
