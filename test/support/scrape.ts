import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
import {
  startApiFixture,
  type ApiFixtureOptions,
  type RunningApiFixture,
} from '../../local-stack/api-fixture/index.ts';
import { startMongoServer, type RunningMongoServer } from '../../local-stack/mongo/server.ts';

/** Small backoff so retries do not slow the suite; the API's timeouts are far longer than its latency. */
export const FAST_POOL = { baseDelayMs: 5, maxDelayMs: 50, timeoutMs: 3000, retries: 4 };

/**
 * The MongoDB-wire server for one test file, reached through the real driver; `freshDb()` gives each test a
 * database of its own, so tests never see each other's documents; `tmpDir()` is a scratch directory removed
 * after the file (for data files of servers a test starts itself).
 */
export function useLocalMongo(prefix: string): {
  client(): MongoClient;
  freshDb(): Db;
  server(): RunningMongoServer;
  tmpDir(): string;
} {
  let mongo: RunningMongoServer | undefined;
  let client: MongoClient | undefined;
  let tmp: string | undefined;
  let databases = 0;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), `cp-${prefix}-`));
    mongo = await startMongoServer({ port: 0, silent: true });
    client = await new MongoClient(mongo.uri).connect();
  });
  afterAll(async () => {
    await client?.close();
    await mongo?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  // All set in beforeAll, before any test runs.
  return {
    client: () => client!,
    freshDb: () => client!.db(`${prefix}_${++databases}`),
    server: () => mongo!,
    tmpDir: () => tmp!,
  };
}

/** Runs `use` with an API fixture of its own, so fault settings and stats never leak between tests. */
export async function withFixture<T>(
  options: Partial<ApiFixtureOptions>,
  use: (fixture: RunningApiFixture) => Promise<T>,
): Promise<T> {
  const fixture = await startApiFixture({ port: 0, silent: true, ...options });
  try {
    return await use(fixture);
  } finally {
    await fixture.close();
  }
}
