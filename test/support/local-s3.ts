/** A local S3 server in a child process of its own, for one test file: a temp data folder, a free port, a client. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { type S3ServerProcess, spawnS3ServerProcess } from '../../local-stack/s3/child.ts';
import { testS3Client } from './clients.ts';
import { TEST_CREDENTIALS } from './signing.ts';

export interface LocalS3 {
  server: S3ServerProcess;
  dir: string;
  s3: S3Client;
}

/**
 * Port 0: the server picks a free port, so a file using this never collides with the fixed ports of the others.
 * `hostAliases`: other `host:port` names the server answers to, e.g. a fault proxy's in front of it (the proxy
 * forwards its client's Host, which the server would otherwise refuse).
 */
export async function startLocalS3(
  buckets: string[],
  tmpPrefix: string,
  options: { hostAliases?: string[] } = {},
): Promise<LocalS3> {
  const dir = mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  const server = await spawnS3ServerProcess({
    directory: dir,
    buckets,
    credentials: TEST_CREDENTIALS,
    port: 0,
    ...(options.hostAliases === undefined ? {} : { hostAliases: options.hostAliases }),
  });
  return { server, dir, s3: testS3Client(server.endpoint) };
}

export async function stopLocalS3(local: Partial<LocalS3>): Promise<void> {
  local.s3?.destroy();
  await local.server?.close();
  if (local.dir) rmSync(local.dir, { recursive: true, force: true });
}
