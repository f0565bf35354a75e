/**
 * Which report belongs to which upload (lib/rates/history.ts): a report older than the upload is the previous run's,
 * so the upload is still running; the newer of summary.json and error.json wins. The S3 client is real; a middleware
 * at its first step answers each command from a table instead of the network.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { listRatesUploads } from '../../../lib/rates/history.ts';

function fakeS3(objects: { key: string; at: string }[], reports: Record<string, object>): S3Client {
  const s3 = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://127.0.0.1:1',
  });
  s3.middlewareStack.add(
    (_next, context) => async (args) => {
      const input = args.input as { Key?: string; Prefix?: string };
      if (context.commandName === 'ListObjectsV2Command') {
        expect(input.Prefix).toBe('uploads/');
        const Contents = objects.map(({ key, at }) => ({ Key: key, Size: 10, LastModified: new Date(at) }));
        return { output: { Contents, IsTruncated: false, $metadata: {} }, response: {} };
      }
      if (context.commandName !== 'GetObjectCommand') throw new Error(`unexpected ${context.commandName}`);
      const report = reports[input.Key!];
      if (report === undefined) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
      const Body = { transformToString: async () => JSON.stringify(report) };
      return { output: { Body, $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'answerFromTable' },
  );
  return s3;
}

const ok = (finishedAt: string) => ({ status: 'ok', runId: 'r', rows: 3, finishedAt });
const failed = (finishedAt: string) => ({ status: 'error', runId: 'r', error: { code: 'EMPTY_FILE' }, finishedAt });

describe('listRatesUploads', () => {
  it('pairs each upload with its newest report, newest upload first; an older report means still running', async () => {
    const s3 = fakeS3(
      [
        { key: 'uploads/a.csv', at: '2026-12-03T10:00:00.000Z' },
        { key: 'uploads/b.csv', at: '2026-12-03T12:00:00.000Z' },
        { key: 'uploads/c.csv', at: '2026-12-03T11:00:00.000Z' },
        { key: 'uploads/notes.txt', at: '2026-12-03T13:00:00.000Z' },
        { key: 'uploads/d.csv.gz', at: '2026-12-03T09:00:00.000Z' },
      ],
      {
        // a: finished in the same second as the (whole-second) upload time: its own.
        'results/a/summary.json': ok('2026-12-03T10:00:00.400Z'),
        // b: the report is the previous upload's.
        'results/b/summary.json': ok('2026-12-03T11:59:00.000Z'),
        // c: an error after an older success.
        'results/c/summary.json': ok('2026-12-03T10:00:00.000Z'),
        'results/c/error.json': failed('2026-12-03T11:00:05.000Z'),
      },
    );
    const uploads = await listRatesUploads(s3, 'bucket');
    expect(uploads.map((u) => [u.key, u.state, u.outcome?.finishedAt ?? null])).toEqual([
      ['uploads/b.csv', 'running', null],
      ['uploads/c.csv', 'error', '2026-12-03T11:00:05.000Z'],
      ['uploads/a.csv', 'ok', '2026-12-03T10:00:00.400Z'],
      ['uploads/d.csv.gz', 'running', null],
    ]);
    expect(uploads[0]!.resultPrefix).toBe('results/b/');
    expect(await listRatesUploads(s3, 'bucket', 2)).toHaveLength(2);
  });
});
