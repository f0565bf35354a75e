import type { Context } from 'aws-lambda';
import middy from '@middy/core';
import { MongoClient } from 'mongodb';
import { createSsmClient } from '../lib/aws/ssm.ts';
import { jobErrors } from '../lib/middleware/job-errors.ts';
import { observability } from '../lib/observability.ts';
import { createSecretResolver, loadScrapeConfig, type ScrapeSource } from '../lib/scrape/config.ts';
import { parseScrapeEvent } from '../lib/scrape/input.ts';
import { runScrape } from '../lib/scrape/run.ts';
import { createScrapeRunLog, type ScrapeRunLog } from '../lib/scrape/run-log.ts';
import { recordScrape } from '../lib/scrape/metrics.ts';
import { createScrapeStore, type ScrapeStore } from '../lib/scrape/store.ts';

// Created once per container and reused by every invocation it serves.
const config = loadScrapeConfig();
const readSecret = createSecretResolver(createSsmClient());
let mongo: Promise<MongoClient> | undefined;
const stores = new Map<ScrapeSource, ScrapeStore>();

/**
 * Time kept back at the end of an invocation (as lib/aws/lambda-deadline.ts does): in-flight requests are cut
 * at the deadline, so this only has to cover the last batch's write and the reply.
 */
const SAFETY_MARGIN_MS = 10_000;
/**
 * Writes (and their retries through a MongoDB outage) are waited on until this long before the end: what is
 * still unwritten then is reported in the result's `failed`, which needs the time to be returned.
 */
const REPLY_MARGIN_MS = 2_000;

/** The container's client: the URI (maybe from SSM) is resolved and the connection made once, on first use. */
function mongoClient(): Promise<MongoClient> {
  mongo ??= readSecret(config.mongo.uri)
    .then((uri) => new MongoClient(uri, { appName: 'cloud-parallel-scrape' }).connect())
    .catch((error: unknown) => {
      mongo = undefined; // the next invocation tries again
      throw error;
    });
  return mongo;
}

let runLog: ScrapeRunLog | undefined;

async function runLogFor(): Promise<ScrapeRunLog> {
  runLog ??= createScrapeRunLog((await mongoClient()).db(config.mongo.db));
  return runLog;
}

async function storeFor(source: ScrapeSource): Promise<ScrapeStore> {
  const client = await mongoClient();
  let store = stores.get(source);
  if (store === undefined) {
    // Kept per container, so its indexes are created once.
    store = createScrapeStore(client.db(config.mongo.db), { collection: config.collections[source] });
    stores.set(source, store);
  }
  return store;
}

/** Closes the container's MongoDB connection (tests; a Lambda container just freezes). */
export async function closeConnections(): Promise<void> {
  const pending = mongo;
  mongo = undefined;
  runLog = undefined;
  stores.clear();
  await (await pending?.catch(() => undefined))?.close();
}

/** `{source: "yelp", cities, limit?, concurrency?}` or `{source: "hn", ids, concurrency?}` → the run summary. */
export const handler = middy(async (event: unknown, context: Context) => {
  try {
    const input = parseScrapeEvent(event);
    const yelpApiKey = input.source === 'yelp' && config.yelpApiKey ? await readSecret(config.yelpApiKey) : undefined;
    const endsAt = Date.now() + context.getRemainingTimeInMillis();
    const result = await runScrape(input, {
      store: await storeFor(input.source),
      yelpBaseUrl: config.yelpBaseUrl,
      hnBaseUrl: config.hnBaseUrl,
      ...(yelpApiKey === undefined
        ? {}
        : { yelpApiKey, yelpApiKeySource: config.yelpApiKey?.from ?? 'the configuration' }),
      pool: config.pool,
      deadlineAt: endsAt - SAFETY_MARGIN_MS,
      write: { retryForMs: config.write.retryForMs, deadlineAt: endsAt - REPLY_MARGIN_MS },
      // Lambda's async retry of an invocation keeps its request id: the retried run replaces its own record.
      runLog: { log: await runLogFor(), runId: context.awsRequestId },
    });
    recordScrape(result);
    return result;
  } finally {
    // `sls invoke local` runs one invocation in a process that exits when idle; an open pool would keep it
    // running forever. A Lambda container is frozen instead, and keeps its connection for the next invocation.
    if (process.env.IS_LOCAL === 'true') await closeConnections();
  }
})
  .use(observability())
  .use(jobErrors({ job: 'scrape' }));
