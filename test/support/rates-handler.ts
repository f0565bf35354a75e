/**
 * The real rates handler (functions/rates.ts) in process against a local S3 server in its own process, optionally
 * through the fault-injecting proxy — shared by the suites that drive the handler with S3 events.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../../local-stack/fault-proxy.ts';
import { spawnS3ServerProcess, type S3ServerProcess } from '../../local-stack/s3/child.ts';
import { quietObservability } from './bad-input.ts';
import { freePort } from '../../local-stack/shared/server-process.ts';
import { stubS3Env, testS3Client } from './clients.ts';
import { TEST_CREDENTIALS } from './signing.ts';

export type RatesHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface RatesHandlerRig {
  dir: string;
  server: S3ServerProcess;
  /** Present when started with `viaProxy`: the handler's S3 client goes through it. */
  proxy: FaultProxy | undefined;
  /** Straight to the server: arranging and inspecting never goes through the faults. */
  s3: S3Client;
  handler: RatesHandler;
}

/** Starts the server (and proxy), then loads the handler with the environment a deployment would give it. */
export async function startRatesHandler(options: {
  bucket: string;
  name: string;
  viaProxy?: boolean;
  env?: Record<string, string>;
}): Promise<RatesHandlerRig> {
  const dir = await mkdtemp(join(tmpdir(), `cp-${options.name}-`));
  // The proxy forwards the handler's Host (its own name), so the server must know that name before it starts.
  const proxyPort = options.viaProxy ? await freePort() : undefined;
  const server = await spawnS3ServerProcess({
    directory: join(dir, 's3'),
    buckets: [options.bucket],
    credentials: TEST_CREDENTIALS,
    ...(proxyPort === undefined ? {} : { hostAliases: [`127.0.0.1:${proxyPort}`] }),
  });
  const proxy =
    proxyPort === undefined ? undefined : await startFaultProxy({ target: server.endpoint, port: proxyPort });
  quietObservability();
  // The handler reads its configuration and builds its S3 client when the module loads, as in a Lambda container.
  stubS3Env(proxy?.endpoint ?? server.endpoint);
  for (const [name, value] of Object.entries({ DATA_BUCKET: options.bucket, ...options.env })) vi.stubEnv(name, value);
  const { handler } = (await import('../../functions/rates.ts')) as { handler: RatesHandler };
  return { dir, server, proxy, s3: testS3Client(server.endpoint), handler };
}

export async function stopRatesHandler(rig: RatesHandlerRig | undefined): Promise<void> {
  vi.unstubAllEnvs();
  if (rig === undefined) return;
  rig.s3.destroy();
  await rig.proxy?.close();
  await rig.server.close();
  await rm(rig.dir, { recursive: true, force: true });
}
