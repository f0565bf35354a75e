/**
 * The rig of the split-run suites that make S3 fail: a local S3 server with the fault proxy in front of it (the
 * coordinator's client goes through the proxy, one attempt per request so a fault is seen unretried), the workers'
 * environment pointed straight at the server (worker threads build their client from it, as a Lambda does), and a
 * folder for the crashing worker's logs. Registers its own hooks: faults injected by a test end with it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, vi } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../../local-stack/fault-proxy.ts';
import { freePort } from '../../local-stack/shared/server-process.ts';
import { stubS3Env, testS3Client } from './clients.ts';
import { FAULT_ENV } from './crashing-rates-worker.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from './local-s3.ts';

export interface FaultProxiedS3 {
  local: LocalS3;
  proxy: FaultProxy;
  /** A client through the proxy. */
  faulty: S3Client;
  /** Where the crashing worker logs its attempts. */
  logs: string;
}

/** The rig for `bucket`; its fields are set once the suite's beforeAll has run. */
export function useFaultProxiedS3(bucket: string, tempPrefix: string): FaultProxiedS3 {
  const rig = {} as FaultProxiedS3; // filled in by beforeAll, before any test reads it
  beforeAll(async () => {
    const proxyPort = await freePort();
    rig.local = await startLocalS3([bucket], tempPrefix, { hostAliases: [`127.0.0.1:${proxyPort}`] });
    rig.proxy = await startFaultProxy({ target: rig.local.server.endpoint, port: proxyPort });
    rig.faulty = testS3Client(rig.proxy.endpoint, 1);
    rig.logs = mkdtempSync(path.join(os.tmpdir(), tempPrefix));
    stubS3Env(rig.local.server.endpoint);
  });

  afterEach(() => {
    vi.stubEnv(FAULT_ENV, undefined);
    rig.proxy.clearRules();
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    rig.faulty?.destroy();
    await rig.proxy?.close();
    await stopLocalS3(rig.local ?? {});
    if (rig.logs) rmSync(rig.logs, { recursive: true, force: true });
  });
  return rig;
}
