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
import { parseArgs } from 'node:util';
import { MongoClient, type Db } from 'mongodb';
import { formatTable } from '../cli/format.ts';
import { UserError } from '../lib/errors.ts';
import {
  DEFAULT_COLLECTIONS,
  MAX_CONCURRENCY,
  createScrapeStore,
  runScrape,
  type ScrapeDeps,
  type ScrapeProgress,
  type ScrapeResult,
  type ScrapeStore,
} from '../lib/scrape/index.ts';
import { DEFAULT_SEED, FIXTURE_CITIES, STATS_PATH, STATS_RESET_PATH, startApiFixture, type ApiFixtureStats } from '../local-stack/api-fixture/index.ts';
import { spawnApiFixtureProcess, spawnMongoServerProcess } from '../local-stack/shared/child-server.ts';
import { startMongoServer } from '../local-stack/mongo/server.ts';
import { median } from './report.ts';

/** The seed's cities, the first four of the fixture's. */
const CITIES = ['San Francisco, CA', 'New York, NY', 'Chicago, IL', 'Austin, TX'] as const;
const LIMIT = 20;
const BUSINESSES = CITIES.length * LIMIT;
const TARGET_RATIO = 1.15;
const TARGET_CONCURRENCY = 16;
const COLLECTION = DEFAULT_COLLECTIONS.yelp;

interface Options {
  /** `process`: the fixture and the MongoDB server each run in a process of their own, as the real API and Atlas
   *  are elsewhere (the default); `inline`: both share the scraper's process and event loop. */
  services: 'process' | 'inline';
  latencyMs: number;
  concurrencies: number[];
  runs: number;
  write: NonNullable<ScrapeDeps['write']>;
}

/** Lenient about options it does not know: `npm run bench` with no name hands every bench the same arguments. */
function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      'latency-ms': { type: 'string' },
      concurrency: { type: 'string' },
      runs: { type: 'string' },
      'max-docs': { type: 'string' },
      'max-wait-ms': { type: 'string' },
      services: { type: 'string' },
    },
    strict: false,
    allowPositionals: true,
  });
  const text = (name: string): string | undefined => {
    const value = values[name];
    if (typeof value === 'boolean') throw new UserError('INVALID_ARGUMENT', `--${name} needs a value`);
    return value;
  };
  const number = (name: string, fallback: number | undefined, valid: (n: number) => boolean, rule: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (value.trim() === '' || !valid(n)) throw new UserError('INVALID_ARGUMENT', `--${name} must be ${rule}, got "${value}"`);
    return n;
  };
  const concurrencyText = text('concurrency') ?? '1,4,8,16';
  const concurrencies = concurrencyText.split(',').map((part) => {
    const n = Number(part);
    if (part.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY) {
      throw new UserError('INVALID_ARGUMENT', `--concurrency must be a comma-separated list of whole numbers 1..${MAX_CONCURRENCY}, got "${concurrencyText}"`);
    }
    return n;
  });
  const maxDocs = number('max-docs', undefined, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1');
  const maxWaitMs = number('max-wait-ms', undefined, (n) => Number.isFinite(n) && n >= 0, 'a number of ms ≥ 0');
  const services = text('services') ?? 'process';
  if (services !== 'process' && services !== 'inline') throw new UserError('INVALID_ARGUMENT', `--services must be "process" or "inline", got "${services}"`);
  return {
    services,
    latencyMs: number('latency-ms', 50, (n) => Number.isFinite(n) && n >= 0, 'a number of ms ≥ 0')!,
    concurrencies: [...new Set(concurrencies)],
    runs: number('runs', 5, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1')!,
    write: { ...(maxDocs === undefined ? {} : { maxDocs }), ...(maxWaitMs === undefined ? {} : { maxWaitMs }) },
  };
}

/** The fixture as the benchmark uses it, wherever it runs. */
interface Fixture {
  yelpBaseUrl: string;
  apiKey: string;
  stats(): Promise<ApiFixtureStats>;
  resetStats(): Promise<void>;
  close(): Promise<unknown>;
}

interface Services {
  fixture: Fixture;
  mongoUri: string;
  close(): Promise<void>;
}

async function startServices(options: Options): Promise<Services> {
  if (options.services === 'inline') {
    const fixture = await startApiFixture({ port: 0, latencyMs: options.latencyMs, seed: DEFAULT_SEED, silent: true });
    const mongo = await startMongoServer({ port: 0, silent: true }).catch(async (error: unknown) => {
      await fixture.close();
      throw error;
    });
    return {
      fixture: { ...fixture, stats: async () => fixture.stats(), resetStats: async () => fixture.resetStats() },
      mongoUri: mongo.uri,
      close: async () => {
        await mongo.close();
        await fixture.close();
      },
    };
  }
  const fixture = await spawnApiFixtureProcess({ latencyMs: options.latencyMs, seed: DEFAULT_SEED });
  const mongo = await spawnMongoServerProcess().catch(async (error: unknown) => {
    await fixture.close();
    throw error;
  });
  const control = async (route: string, method: 'GET' | 'POST'): Promise<ApiFixtureStats> => {
    const response = await fetch(`${fixture.ready.baseUrl}${route}`, { method });
    if (!response.ok) throw new Error(`${method} ${route} on the fixture answered ${response.status}`);
    return (await response.json()) as ApiFixtureStats;
  };
  return {
    fixture: {
      yelpBaseUrl: fixture.ready.yelpBaseUrl,
      apiKey: fixture.ready.apiKey,
      stats: () => control(STATS_PATH, 'GET'),
      resetStats: async () => void (await control(STATS_RESET_PATH, 'POST')),
      close: () => fixture.close(),
    },
    mongoUri: mongo.ready.uri,
    close: async () => {
      await mongo.close();
      await fixture.close();
    },
  };
}

/** One measured run: the result, what the fixture saw, and when each phase ended (ms since the call). */
interface Sample {
  result: ScrapeResult;
  stored: number;
  maxConcurrent: number;
  fixtureRequests: number;
  /** ensureIndexes (the run awaits it before its first request). */
  indexesMs: number;
  /** The last city's search answered. */
  searchDoneAt: number;
  /** The last details request answered. */
  detailsDoneAt: number;
  /** The last batch written. */
  writtenAt: number;
  returnedAt: number;
}

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
      const page = (await limited(() => getJson(`${fixture.yelpBaseUrl}/businesses/search?${query}`))) as { businesses: Array<{ id: string }> };
      await Promise.all(page.businesses.map(({ id }) => limited(() => getJson(`${fixture.yelpBaseUrl}/businesses/${encodeURIComponent(id)}`))));
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
  if (result.failed.length > 0) problems.push(`${result.failed.length} failed (first: ${result.failed[0]?.id}: ${result.failed[0]?.reason})`);
  if (result.left.length > 0) problems.push(`${result.left.length} left`);
  const written = expect === 'inserted' ? result.upserted : result.unchanged;
  if (written !== BUSINESSES) problems.push(`${expect} ${written}, not ${BUSINESSES}`);
  return problems.length === 0 ? undefined : problems.join('; ');
}

const ms = (value: number): string => `${Math.round(value)} ms`;
const ms1 = (value: number): string => `${value.toFixed(1)} ms`;
/** `a ÷ b` as "1.234×", or "—" when b is 0 (a latency of 0 has no ideal). */
const times = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(3)}×` : '—');

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
  const measure = async (db: Db, concurrency: number, label: string, expect: 'inserted' | 'unchanged'): Promise<Sample | undefined> => {
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

  const latency = options.latencyMs;
  const ideal = (concurrency: number, requestsPerBusiness: number): number => Math.ceil(BUSINESSES / concurrency) * latency * requestsPerBusiness;
  const sequential = byConcurrency.get(1);
  const sequentialWall = sequential && sequential.length > 0 ? median(sequential.map((s) => s.result.wallMs)) : undefined;
  const rows: string[][] = [];
  const phaseRows: string[][] = [];
  const ratios = new Map<number, number>();
  const overBaseline = new Map<number, number>();
  const walls = new Map<number, number>();
  for (const [concurrency, samples] of byConcurrency) {
    if (samples.length === 0) {
      rows.push([String(concurrency), 'no complete run']);
      continue;
    }
    const wall = median(samples.map((s) => s.result.wallMs));
    const requests = median(samples.map((s) => s.result.requests));
    const perBusiness = requests / BUSINESSES;
    const idealMs = ideal(concurrency, perBusiness);
    const floorMs = Math.ceil(requests / concurrency) * latency;
    if (idealMs > 0) ratios.set(concurrency, wall / idealMs);
    const baselineMs = baselines.get(concurrency) ?? Number.NaN;
    if (baselineMs > 0) overBaseline.set(concurrency, wall / baselineMs);
    const maxConcurrent = Math.max(...samples.map((s) => s.maxConcurrent));
    walls.set(concurrency, wall);
    rows.push([
      String(concurrency),
      ms(wall),
      `${ms(Math.min(...samples.map((s) => s.result.wallMs)))}–${ms(Math.max(...samples.map((s) => s.result.wallMs)))}`,
      perBusiness.toFixed(3),
      ms1(idealMs),
      times(wall, idealMs),
      `${ms(floorMs)} (${times(floorMs, idealMs)})`,
      `${ms(baselineMs)} (${times(baselineMs, idealMs)})`,
      times(wall, baselineMs),
      maxConcurrent > concurrency ? `${maxConcurrent} (over the bound!)` : String(maxConcurrent),
      sequentialWall === undefined ? '—' : `${(sequentialWall / wall).toFixed(2)}×`,
    ]);
    const m = (pick: (s: Sample) => number): number => median(samples.map(pick));
    const detailsIdeal = Math.ceil(BUSINESSES / concurrency) * latency;
    phaseRows.push([
      String(concurrency),
      ms1(m((s) => s.indexesMs)),
      ms1(m((s) => s.searchDoneAt)),
      `${ms1(m((s) => s.detailsDoneAt - s.searchDoneAt))} (${ms(detailsIdeal)})`,
      ms1(m((s) => s.writtenAt - s.detailsDoneAt)),
      ms1(m((s) => s.returnedAt - s.writtenAt)),
    ]);
  }

  const writePolicy =
    Object.keys(options.write).length === 0
      ? 'the writer defaults (a batch per max(16, C) records or per second)'
      : `write ${JSON.stringify(options.write)}`;
  let out =
    `\nscrape: ${BUSINESSES} businesses (${CITIES.length} cities × ${LIMIT}), fixture latency ${latency} ms per request, ` +
    `fixture and MongoDB server ${options.services === 'process' ? 'each in a process of their own' : 'inside the benchmark process'}, ` +
    `median of ${options.runs} runs per concurrency after 1 warm-up, each run into a fresh database (${BUSINESSES} inserts), ${writePolicy}\n` +
    formatTable(
      ['C', 'wall (median)', 'min–max', 'requests/business', 'ideal', 'wall ÷ ideal', 'floor ceil(req/C)×lat', 'baseline (÷ ideal)', 'wall ÷ baseline', 'fixture maxConcurrent', 'speedup vs C=1'],
      rows,
    ) +
    `ideal = ceil(${BUSINESSES} / C) × latency × requests per business (requests = HTTP attempts: ${CITIES.length} searches + ${BUSINESSES} details, no retries)\n` +
    `the wall time includes the search phase (${CITIES.length} search requests, one per city, before any of that city's details), ` +
    `index creation and the MongoDB writes; floor = whole ${latency} ms requests packed into C slots, the least any schedule can take\n` +
    `baseline = the same requests in the same order through a bare bounded Promise.all over fetch (no validation, retries or ` +
    `database), median of runs alternating with the scraper's: what this machine charges per request, before the scraper's own work\n` +
    `\nwhere the time goes (medians, ms since the run started; details phase with its ideal ceil(${BUSINESSES}/C) × latency)\n` +
    formatTable(['C', 'ensureIndexes', 'searches done at', 'details phase', 'write (after details)', 'after write'], phaseRows);

  if (rerun.length > 0) {
    const c = Math.max(...options.concurrencies);
    const wall = median(rerun.map((s) => s.result.wallMs));
    const idealMs = ideal(c, median(rerun.map((s) => s.result.requests)) / BUSINESSES);
    out +=
      `\nre-run into the same database (all ${BUSINESSES} unchanged), C=${c}: median ${ms(wall)}, ${times(wall, idealMs)} ideal; ` +
      `write after details ${ms1(median(rerun.map((s) => s.writtenAt - s.detailsDoneAt)))}\n`;
  }
  const fastest = walls.get(TARGET_CONCURRENCY);
  if (sequentialWall !== undefined && fastest !== undefined) {
    out += `speedup C=${TARGET_CONCURRENCY} over sequential: ${(sequentialWall / fastest).toFixed(2)}× (${ms(sequentialWall)} → ${ms(fastest)})\n`;
  }
  const ratio = ratios.get(TARGET_CONCURRENCY);
  const baselineRatio = overBaseline.get(TARGET_CONCURRENCY);
  const verdict = (value: number): string => `${value <= TARGET_RATIO ? 'MET' : 'NOT MET'} (${value.toFixed(3)}×)`;
  out +=
    ratio === undefined || baselineRatio === undefined
      ? `target (C=${TARGET_CONCURRENCY} ≤ ${TARGET_RATIO}×): not measured (C=${TARGET_CONCURRENCY} not run, no complete run, or latency 0)\n`
      : `target: C=${TARGET_CONCURRENCY} wall ≤ ${TARGET_RATIO}× the bare-fetch baseline — ${verdict(baselineRatio)}\n` +
        `        C=${TARGET_CONCURRENCY} wall ≤ ${TARGET_RATIO}× ideal — ${verdict(ratio)}; no run can go under the floor ` +
        `(1 search round + ceil(${BUSINESSES}/C) detail rounds), and the baseline shows what the machine adds per request\n`;
  if (lost.length > 0) out += `FAILED: ${lost.length} run(s) lost documents:\n${lost.map((line) => `  ${line}\n`).join('')}`;
  process.stdout.write(out);
  return lost.length > 0 ? 1 : 0;
}
