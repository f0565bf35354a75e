/** Readers of the local S3 server see a whole object or none, as on S3, even while it is being written. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnS3ServerProcess, type S3ServerProcess } from '../../../local-stack/s3/child.ts';
import { testS3Client } from '../../support/clients.ts';
import { TEST_CREDENTIALS } from '../../support/signing.ts';

let server: S3ServerProcess;
let dir: string;
let s3: S3Client;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cp-s3-atomic-'));
  server = await spawnS3ServerProcess({ directory: dir, buckets: ['atomic'], credentials: TEST_CREDENTIALS });
  s3 = testS3Client(server.endpoint);
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

it('never serves a partly written object to a reader polling while it is replaced', async () => {
  const old = Buffer.alloc(4 * 1024 * 1024, 'a');
  const next = Buffer.alloc(6 * 1024 * 1024, 'b');
  await s3.send(new PutObjectCommand({ Bucket: 'atomic', Key: 'result.json', Body: old }));
  let writing = true;
  const seen = new Set<string>();
  const poll = (async () => {
    while (writing) {
      const body = Buffer.from(
        await (
          await s3.send(new GetObjectCommand({ Bucket: 'atomic', Key: 'result.json' }))
        ).Body!.transformToByteArray(),
      );
      seen.add(body.equals(old) ? 'old' : body.equals(next) ? 'new' : `partial ${body.length} bytes`);
    }
  })();
  // Enough rounds that a reader lands between a write's steps (the size read and the file opened) in practice.
  for (let i = 0; i < 20; i++) {
    await s3.send(new PutObjectCommand({ Bucket: 'atomic', Key: 'result.json', Body: i % 2 === 0 ? next : old }));
    const read = Buffer.from(
      await (
        await s3.send(new GetObjectCommand({ Bucket: 'atomic', Key: 'result.json' }))
      ).Body!.transformToByteArray(),
    );
    // Read-after-write: the object a PUT has acknowledged is the one a GET returns.
    expect(read.equals(i % 2 === 0 ? next : old)).toBe(true);
  }
  writing = false;
  await poll;
  expect([...seen].filter((s) => s.startsWith('partial'))).toEqual([]);
});
