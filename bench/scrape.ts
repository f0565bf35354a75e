/**
 * `npm run bench -- scrape [--latency-ms 50] [--concurrency 1,4,8,16] [--runs 5] [--max-docs N] [--max-wait-ms N]
 *  [--services process|inline]`:
 * the Yelp scrape of 80 businesses (4 fixture cities × 20) against the local API fixture with a fixed
 * per-request latency, and the local MongoDB-compatible server, sequential and concurrent. By default the fixture
 * and the MongoDB server each run in a process of their own, as the real API and Atlas run elsewhere: inline, their
 * CPU work (mingo, BSON, building responses) would be charged to the scraper's event loop.
 *
 * Each concurrency gets one warm-up run, then `--runs` measured runs, each into a fresh database (so every run
 * inserts 80 documents); the largest concurrency is also measured re-running into the same database (all 80
 * unchanged). Reports medians: wall time against the ideal ceil(80/C) × latency × requests-per-business, the
 * fixture's maxConcurrent (the pool's bound as the server saw it), and a phase breakdown. A run that loses
 * documents (fetched ≠ 80, or the collection not holding 80) makes the benchmark fail; missing the speed target
 * does not: a benchmark reports, it does not fail CI.
 */
import { MongoClient, type Db } from 'mongodb';
import { createScrapeStore, runScrape, type ScrapeProgress, type ScrapeStore } from '../lib/scrape/index.ts';
import { FIXTURE_CITIES } from '../local-stack/api-fixture/index.ts';
import { median } from './report.ts';
import { scrapeReport } from './scrape-report.ts';
import {
  BUSINESSES,
  CITIES,
  COLLECTION,
  LIMIT,
  parseOptions,
  startServices,
  type Fixture,
  type Options,
  type Sample,
} from './scrape-setup.ts';

/** The store, with its ensureIndexes timed (the writer's upserts go to the store's own closure, untouched). */
function timedStore(store: ScrapeStore, onIndexes: (ms: number) => void): ScrapeStore {
  return {
    collectionName: store.collectionName,
    ensureIndexes: async () => {
      const started = performance.now();
      await store.ensureIndexes();
      onIndexes(performance.now() - started);
    },
    upsert: (records) => store.upsert(records),
    createWriter: (options) => store.createWriter(options),
  };
}

async function scrapeOnce(db: Db, fixture: Fixture, concurrency: number, options: Options): Promise<Sample> {
  let indexesMs = Number.NaN;
  const store = timedStore(createScrapeStore(db, { collection: COLLECTION }), (ms) => (indexesMs = ms));
  const last: Record<ScrapeProgress['phase'], number> = { search: Number.NaN, details: Number.NaN, write: Number.NaN };
  await fixture.resetStats();
  const started = performance.now();
  const result = await runScrape(
    { source: 'yelp', cities: [...CITIES], limit: LIMIT, concurrency },
    {
      store,
      yelpBaseUrl: fixture.yelpBaseUrl,
      yelpApiKey: fixture.apiKey,
      pool: { concurrency },
      ...(Object.keys(options.write).length === 0 ? {} : { write: options.write }),
      onProgress: (event) => {
        last[event.phase] = performance.now() - started;
      },
    },
  );
  const returnedAt = performance.now() - started;
  const stats = await fixture.stats();
  const stored = await db.collection(COLLECTION).countDocuments();
  return {
    result,
    stored,
    maxConcurrent: stats.maxConcurrent,
    fixtureRequests: stats.requests,
    indexesMs,
    searchDoneAt: last.search,
    detailsDoneAt: last.details,
    writtenAt: last.write,
    returnedAt,
  };
}

/**
 * The baseline the scraper is measured against, run in the same process against the same fixture: the same 84
 * requests in the same dependency order (a city's details after its search) through a bare pool of `concurrency`
 * workers over `fetch` — no validation, retries, rate-limit handling, progress or database. What it costs over
 * the ideal is what this machine charges per HTTP request; what the scraper costs over it is the scraper's own.
 */
async function baselineOnce(fixture: Fixture, concurrency: number): Promise<number> {
  const headers = { authorization: `Bearer ${fixture.apiKey}`, accept: 'application/json' };
  const getJson = async (url: string): Promise<unknown> => {
    const response = await fetch(url, { headers });
    if (!response.ok) throw new Error(`baseline: ${url} answered ${response.status}`);
    return response.json();
  };
  // The textbook bounded Promise.all: a counting semaphore with a FIFO of waiters.
  let active = 0;
  const waiters: Array<() => void> = [];
  const limited = async <T>(request: () => Promise<T>): Promise<T> => {
    while (active >= concurrency) await new Promise<void>((resolve) => waiters.push(resolve));
    active++;
    try {
      return await request();
    } finally {
      active--;
      waiters.shift()?.();
    }
  };
  const started = performance.now();
  await Promise.all(
    CITIES.map(async (city) => {
      const query = new URLSearchParams({ location: city, limit: String(LIMIT), offset: '0' });
      const page = (await limited(() => getJson(`${fixture.yelpBaseUrl}/businesses/search?${query}`))) as {
        businesses: Array<{ id: string }>;
      };
      await Promise.all(
        page.businesses.map(({ id }) =>
          limited(() => getJson(`${fixture.yelpBaseUrl}/businesses/${encodeURIComponent(id)}`)),
        ),
      );
    }),
  );
  return performance.now() - started;
}

/** Why a run does not count: documents lost, or anything failed. Undefined when it is whole. */
function problemOf(sample: Sample, expect: 'inserted' | 'unchanged'): string | undefined {
  const { result } = sample;
  const problems: string[] = [];
  if (result.fetched !== BUSINESSES) problems.push(`fetched ${result.fetched} of ${BUSINESSES}`);
  if (sample.stored !== BUSINESSES) problems.push(`the collection holds ${sample.stored} documents, not ${BUSINESSES}`);
  if (result.failed.length > 0)
    problems.push(`${result.failed.length} failed (first: ${result.failed[0]?.id}: ${result.failed[0]?.reason})`);
  if (result.left.length > 0) problems.push(`${result.left.length} left`);
  const written = expect === 'inserted' ? result.upserted : result.unchanged;
  if (written !== BUSINESSES) problems.push(`${expect} ${written}, not ${BUSINESSES}`);
  return problems.length === 0 ? undefined : problems.join('; ');
}

const ms = (value: number): string => `${Math.round(value)} ms`;

export async function benchScrape(args: string[]): Promise<number> {
  const options = parseOptions(args);
  for (const city of CITIES) if (!FIXTURE_CITIES.includes(city)) throw new Error(`the fixture has no city "${city}"`);
  const services = await startServices(options);
  const { fixture } = services;
  const client = new MongoClient(services.mongoUri);
  const lost: string[] = [];
  const byConcurrency = new Map<number, Sample[]>();
  const rerun: Sample[] = [];
  const baselines = new Map<number, number>();
  let databases = 0;
  const freshDb = (): Db => client.db(`bench_scrape_${process.pid}_${++databases}`);

  /** One run into `db`; a run that lost documents is recorded (the benchmark then fails) and not measured. */
  const measure = async (
    db: Db,
    concurrency: number,
    label: string,
    expect: 'inserted' | 'unchanged',
  ): Promise<Sample | undefined> => {
    const sample = await scrapeOnce(db, fixture, concurrency, options);
    const problem = problemOf(sample, expect);
    const { result } = sample;
    process.stderr.write(
      `  C=${concurrency} ${label}: ${ms(result.wallMs)} wall, ${result.requests} requests (${result.retries} retries), ` +
        `fixture maxConcurrent ${sample.maxConcurrent}, ${result.upserted} inserted / ${result.unchanged} unchanged${problem ? ` — LOST: ${problem}` : ''}\n`,
    );
    if (problem) {
      lost.push(`C=${concurrency} ${label}: ${problem}`);
      return undefined;
    }
    return sample;
  };

  try {
    await client.connect();
    for (const concurrency of options.concurrencies) {
      // The warm-up loads the code paths and opens the HTTP keep-alive and Mongo connections this C uses.
      const warmDb = freshDb();
      await measure(warmDb, concurrency, 'warm-up', 'inserted');
      await warmDb.dropDatabase();
      await baselineOnce(fixture, concurrency);
      const samples: Sample[] = [];
      const baselineWalls: number[] = [];
      for (let run = 1; run <= options.runs; run++) {
        // Alternating with the scraper's runs, so both see the same machine load.
        baselineWalls.push(await baselineOnce(fixture, concurrency));
        const db = freshDb();
        const sample = await measure(db, concurrency, `run ${run}/${options.runs}`, 'inserted');
        if (sample) samples.push(sample);
        await db.dropDatabase();
      }
      byConcurrency.set(concurrency, samples);
      baselines.set(concurrency, median(baselineWalls));
      process.stderr.write(`  C=${concurrency} baseline (bare bounded fetch): median ${ms(median(baselineWalls))}\n`);
    }
    // The scheduled case: the same businesses again, into the same database, every one unchanged.
    const rerunConcurrency = Math.max(...options.concurrencies);
    const rerunDb = freshDb();
    await measure(rerunDb, rerunConcurrency, 'first run (re-run case)', 'inserted');
    for (let run = 1; run <= options.runs; run++) {
      const sample = await measure(rerunDb, rerunConcurrency, `re-run ${run}/${options.runs}`, 'unchanged');
      if (sample) rerun.push(sample);
    }
    await rerunDb.dropDatabase();
  } finally {
    await client.close();
    await services.close();
  }

  const out = scrapeReport(options, { byConcurrency, baselines, rerun, lost });
  process.stdout.write(out);
  return lost.length > 0 ? 1 : 0;
}
