import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import {
  createScrapeRunLog,
  createScrapeStore,
  loadScrapeConfig,
  runScrape,
  type ScrapeInput,
  type ScrapeResult,
} from '../lib/scrape/index.ts';
import { stackEnvironment, type StackState } from '../local-stack/stack.ts';
import type { ScrapeRequest } from './args/scrape.ts';
import { awaitCleanly, interruptSignal } from './interrupt.ts';
import { progress, withStack } from './shared.ts';

export interface ScrapeRunReport {
  result: ScrapeResult;
  /** Documents in the source's collection after the run. */
  documents: number;
  collection: string;
}

/** One scrape against the local stack: its API fixture and MongoDB-wire server, through the real driver. */
export async function runLocalScrape(
  state: StackState,
  input: ScrapeInput,
  quiet: boolean,
  options: { db?: string } = {},
): Promise<ScrapeRunReport> {
  const say = quiet ? () => undefined : progress;
  const config = loadScrapeConfig({
    ...stackEnvironment(state),
    ...(options.db === undefined ? {} : { MONGODB_DB: options.db }),
  });
  const client = await new MongoClient(state.mongoUri, { appName: 'cloud-parallel-cli' }).connect();
  try {
    const collection = config.collections[input.source];
    const store = createScrapeStore(client.db(config.mongo.db), { collection });
    const shown = new Map<string, number>();
    // On Ctrl-C the run saves what it fetched before the stack (and its MongoDB) is stopped.
    const result = await awaitCleanly(
      'saving what the scrape fetched',
      runScrape(input, {
        store,
        yelpBaseUrl: config.yelpBaseUrl,
        hnBaseUrl: config.hnBaseUrl,
        ...(config.yelpApiKey && 'value' in config.yelpApiKey
          ? { yelpApiKey: config.yelpApiKey.value, yelpApiKeySource: config.yelpApiKey.from }
          : {}),
        pool: config.pool,
        runLog: { log: createScrapeRunLog(client.db(config.mongo.db)), runId: randomUUID() },
        // Ctrl-C stops the requests; what was fetched before it is saved as the run's own stop would save it.
        signal: interruptSignal,
        onProgress: ({ phase, done, total }) => {
          // A line per tenth of each phase, and its end: progress without a flood.
          const step = Math.max(1, Math.ceil(total / 10));
          if (done !== total && done - (shown.get(phase) ?? 0) < step) return;
          shown.set(phase, done);
          say(`${phase}: ${done}/${total}`);
        },
      }),
    );
    const documents = await client.db(config.mongo.db).collection(collection).countDocuments();
    return { result, documents, collection: `${config.mongo.db}.${collection}` };
  } finally {
    await client.close();
  }
}

export function formatScrape({ result, documents, collection }: ScrapeRunReport): string {
  const lines = [
    `${result.source}: fetched ${result.fetched}, upserted ${result.upserted}, modified ${result.modified}, unchanged ${result.unchanged}, failed ${result.failed.length}` +
      (result.left.length > 0 ? `, left ${result.left.length}` : ''),
    `  ${result.requests} requests (${result.retries} retries) in ${result.wallMs} ms; ${collection} now holds ${documents} documents`,
  ];
  if (result.runLogError) lines.push(`  ${result.runLogError}`);
  if (result.stoppedEarly) lines.push(`  stopped early (${result.stoppedEarly.kind}): ${result.stoppedEarly.reason}`);
  for (const failure of result.failed.slice(0, 10)) lines.push(`  failed ${failure.id}: ${failure.reason}`);
  if (result.failed.length > 10) lines.push(`  … ${result.failed.length - 10} more (--json lists all)`);
  if (result.left.length > 0)
    lines.push(
      `  left (run again to finish): ${result.left.slice(0, 10).join(', ')}${result.left.length > 10 ? ', …' : ''}`,
    );
  return `${lines.join('\n')}\n`;
}

export async function scrapeCommand({ input, json }: ScrapeRequest): Promise<number> {
  const report = await withStack((state) => runLocalScrape(state, input, json), json);
  process.stdout.write(
    json ? `${JSON.stringify({ ...report.result, documents: report.documents }, null, 2)}\n` : formatScrape(report),
  );
  return report.result.failed.length === 0 && report.result.left.length === 0 && !report.result.stoppedEarly ? 0 : 1;
}
