import { MongoClient } from 'mongodb';
import { createScrapeStore, loadScrapeConfig, parseScrapeInput, runScrape, type ScrapeInput, type ScrapeResult } from '../lib/scrape/index.ts';
import { stackEnvironment, type StackState } from '../local-stack/stack.ts';
import { CliError, integerOption, parse, progress, withStack } from './shared.ts';

/**
 * `cities` as people type them on a command line. A `;` separates cities when present; otherwise commas do, and a
 * two-letter state or country code after a comma stays with its city: "San Francisco, CA, Austin, TX" is two cities.
 */
export function splitCities(text: string): string[] {
  if (text.includes(';')) return text.split(';').map((c) => c.trim()).filter(Boolean);
  const cities: string[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    if (/^[A-Z]{2}$/.test(part) && cities.length > 0) cities[cities.length - 1] += `, ${part}`;
    else cities.push(part);
  }
  return cities;
}

export interface ScrapeRunReport {
  result: ScrapeResult;
  /** Documents in the source's collection after the run. */
  documents: number;
  collection: string;
}

/** One scrape against the local stack: its API fixture and MongoDB-wire server, through the real driver. */
export async function runLocalScrape(state: StackState, input: ScrapeInput, quiet: boolean, options: { db?: string } = {}): Promise<ScrapeRunReport> {
  const say = quiet ? () => undefined : progress;
  const config = loadScrapeConfig({ ...stackEnvironment(state), ...(options.db === undefined ? {} : { MONGODB_DB: options.db }) });
  const client = await new MongoClient(state.mongoUri, { appName: 'cloud-parallel-cli' }).connect();
  try {
    const collection = config.collections[input.source];
    const store = createScrapeStore(client.db(config.mongo.db), { collection });
    const shown = new Map<string, number>();
    const result = await runScrape(input, {
      store,
      yelpBaseUrl: config.yelpBaseUrl,
      hnBaseUrl: config.hnBaseUrl,
      ...(config.yelpApiKey && 'value' in config.yelpApiKey ? { yelpApiKey: config.yelpApiKey.value, yelpApiKeySource: config.yelpApiKey.from } : {}),
      pool: config.pool,
      onProgress: ({ phase, done, total }) => {
        // A line per tenth of each phase, and its end: progress without a flood.
        const step = Math.max(1, Math.ceil(total / 10));
        if (done !== total && done - (shown.get(phase) ?? 0) < step) return;
        shown.set(phase, done);
        say(`${phase}: ${done}/${total}`);
      },
    });
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
  if (result.stoppedEarly) lines.push(`  stopped early (${result.stoppedEarly.kind}): ${result.stoppedEarly.reason}`);
  for (const failure of result.failed.slice(0, 10)) lines.push(`  failed ${failure.id}: ${failure.reason}`);
  if (result.failed.length > 10) lines.push(`  … ${result.failed.length - 10} more (--json lists all)`);
  if (result.left.length > 0) lines.push(`  left (run again to finish): ${result.left.slice(0, 10).join(', ')}${result.left.length > 10 ? ', …' : ''}`);
  return `${lines.join('\n')}\n`;
}

export async function scrapeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    source: { type: 'string' },
    cities: { type: 'string' },
    city: { type: 'string', multiple: true },
    limit: { type: 'string' },
    ids: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 'INVALID_ARGUMENT');
  const concurrency = integerOption(values.concurrency, '--concurrency');
  let input: Record<string, unknown>;
  if (values.source === 'yelp') {
    if (values.ids !== undefined) throw new CliError('--ids is for --source hn; Yelp takes --cities', 'INVALID_ARGUMENT');
    const cities = [...(values.cities === undefined ? [] : splitCities(values.cities)), ...(values.city ?? [])];
    input = { source: 'yelp', cities, limit: integerOption(values.limit, '--limit') };
  } else if (values.source === 'hn') {
    if (values.cities !== undefined || values.city !== undefined || values.limit !== undefined) {
      throw new CliError('--cities/--city/--limit are for --source yelp; HN takes --ids 1-20 or --ids 1,5,9', 'INVALID_ARGUMENT');
    }
    if (values.ids === undefined) throw new CliError('--source hn needs --ids, e.g. --ids 1-20', 'INVALID_ARGUMENT');
    input = { source: 'hn', ids: /^\s*\d+\s*-\s*\d+\s*$/.test(values.ids) ? values.ids : values.ids.split(',').map((id) => integerOption(id.trim(), '--ids')) };
  } else {
    throw new CliError(`--source must be yelp or hn${values.source === undefined ? '' : `, got "${values.source}"`}`, 'INVALID_ARGUMENT');
  }
  if (concurrency !== undefined) input.concurrency = concurrency;
  // Checked before the stack starts: bad input is the user's to fix, whatever the services do.
  const parsed = parseScrapeInput(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
  const json = values.json === true;
  const report = await withStack((state) => runLocalScrape(state, parsed, json), json);
  process.stdout.write(json ? `${JSON.stringify({ ...report.result, documents: report.documents }, null, 2)}\n` : formatScrape(report));
  return report.result.failed.length === 0 && report.result.left.length === 0 && !report.result.stoppedEarly ? 0 : 1;
}
