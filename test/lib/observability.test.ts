/**
 * Structured logs and EMF metrics (lib/observability.ts, each job's lib/<job>/metrics.ts, and the rejections and
 * failures of lib/middleware/job-errors.ts): what the middlewares and the record helpers print, per
 * invocation, through tiny middy handlers and the real primes-worker and rates handlers. Powertools prints through
 * its own `Console` on process.stdout/stderr, so those streams' writes are what is captured.
 */
import type { Context } from 'aws-lambda';
import middy from '@middy/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PrimesRunResult } from '../../lib/primes/fanout-job.ts';
import type { RatesErrorReport, RatesSummary } from '../../lib/rates/index.ts';
import type { ScrapeResult } from '../../lib/scrape/run.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { settle } from '../support/settle.ts';

/** The setup and every record helper, each imported once the environment below is stubbed. */
type Observability = typeof import('../../lib/observability.ts') &
  typeof import('../../lib/rates/metrics.ts') &
  typeof import('../../lib/primes/metrics.ts') &
  typeof import('../../lib/scrape/metrics.ts') &
  typeof import('../../lib/middleware/job-errors.ts');
type Handler = (event: unknown, context: Context) => Promise<unknown>;
type Line = Record<string, unknown>;
interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

let obs: Observability;
let RatesBatchError: typeof import('../../lib/rates/index.ts').RatesBatchError;

/** Env that would change where or whether Powertools prints; each test states what it needs. */
const POWERTOOLS_ENV = [
  'IS_LOCAL',
  'POWERTOOLS_DEV',
  'POWERTOOLS_LOG_LEVEL',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_METRICS_DISABLED',
  'POWERTOOLS_LOGGER_LOG_EVENT',
  'AWS_LAMBDA_LOG_LEVEL',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
];

beforeAll(async () => {
  for (const name of POWERTOOLS_ENV) vi.stubEnv(name, undefined);
  // As in a Lambda execution environment (whose runtime sets it), where logs and EMF go to stdout.
  vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs22.x');
  // For the rates handler: any S3 call would fail loudly (none is expected).
  vi.stubEnv('DATA_BUCKET', 'test-bucket');
  vi.stubEnv('AWS_ENDPOINT_URL_S3', 'http://127.0.0.1:9');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  obs = {
    ...(await import('../../lib/observability.ts')),
    ...(await import('../../lib/rates/metrics.ts')),
    ...(await import('../../lib/primes/metrics.ts')),
    ...(await import('../../lib/scrape/metrics.ts')),
    ...(await import('../../lib/middleware/job-errors.ts')),
  };
  ({ RatesBatchError } = await import('../../lib/rates/index.ts'));
});

afterAll(() => {
  vi.unstubAllEnvs();
});

/** The request id first: every test here checks it on each line. */
const contextFor = (awsRequestId: string, functionName?: string): Context => lambdaContext(functionName, awsRequestId);

interface Captured {
  value?: unknown;
  error?: unknown;
  /** Every stdout line, parsed: the test fails if one is not JSON. */
  stdout: Line[];
  /** The JSON lines of stderr (Node may print its own warnings there). */
  stderr: Line[];
  rawStdout: string;
}

/** Runs `fn` with process.stdout and process.stderr writes captured (and kept off the terminal). */
async function capture(fn: () => Promise<unknown>): Promise<Captured> {
  const chunks = { stdout: [] as string[], stderr: [] as string[] };
  const record = (into: string[]) => (chunk: string | Uint8Array) => {
    into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  const out = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation(record(chunks.stdout) as typeof process.stdout.write);
  const err = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation(record(chunks.stderr) as typeof process.stderr.write);
  const result = await settle(fn).finally(() => {
    out.mockRestore();
    err.mockRestore();
  });
  const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');
  const rawStdout = chunks.stdout.join('');
  const captured = {
    ...result,
    rawStdout,
    stdout: lines(rawStdout).map((line) => JSON.parse(line) as Line),
    stderr: lines(chunks.stderr.join(''))
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Line),
  };
  // Powertools drops attributes it reserves (message, level, ...) and says so: a helper logged a field it lost.
  expect(logLines(captured).filter((line) => /reserved key/.test(String(line.message)))).toEqual([]);
  return captured;
}

const logLines = (captured: Captured): Line[] =>
  [...captured.stdout, ...captured.stderr].filter((line) => 'level' in line);
const emfDocs = (captured: Captured): Emf[] =>
  [...captured.stdout, ...captured.stderr].filter((line): line is Emf => '_aws' in line);
const logLine = (captured: Captured, message: string): Line => {
  const found = logLines(captured).filter((line) => line.message === message);
  expect(found, `one log line "${message}"`).toHaveLength(1);
  return found[0]!;
};
/** The invocation's one EMF document (a handler flushes its metrics once). */
const onlyEmfDoc = (captured: Captured): Emf => {
  const docs = emfDocs(captured);
  expect(docs).toHaveLength(1);
  return docs[0]!;
};
const metricUnits = (doc: Emf): Record<string, string> =>
  Object.fromEntries(doc._aws.CloudWatchMetrics[0]!.Metrics.map((metric) => [metric.Name, metric.Unit]));

/** Checks what every line of an invocation carries. */
function expectContext(line: Line, requestId: string, functionName = 'cloud-parallel-test-fn'): void {
  expect(line).toMatchObject({
    function_request_id: requestId,
    function_name: functionName,
    function_arn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    service: 'cloud-parallel',
    level: expect.stringMatching(/^(DEBUG|INFO|WARN|ERROR)$/),
    message: expect.any(String),
    timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
  });
  expect(Math.abs(Date.parse(line.timestamp as string) - Date.now())).toBeLessThan(60_000);
}

const ratesOk = (key: string, rows: number, badRows: number, totalMs: number): RatesSummary => ({
  status: 'ok',
  runId: 'run-1',
  input: { bucket: 'test-bucket', key, bytes: 1000, eTag: null },
  options: { numerator: 'cancer', denominator: 'population', bins: 30 },
  rateColumn: 'rate',
  rows,
  badRows: { count: badRows, samples: [{ line: 7, reason: 'denominator is 0, row content 555-0100' }] },
  stats: { min: 0, max: 1, mean: 0.5, median: 0.5, p95: 0.9 },
  histogram: { edges: [0, 1], counts: [rows] },
  outputs: { csv: 's3://b/rates.csv', png: 's3://b/h.png', svg: 's3://b/h.svg', summary: 's3://b/summary.json' },
  timings: { computeMs: 1, uploadMs: 1, chartMs: 1, totalMs },
  finishedAt: new Date().toISOString(),
});

const ratesError = (key: string): RatesErrorReport => ({
  status: 'error',
  runId: null,
  input: { bucket: 'test-bucket', key },
  error: { code: 'MISSING_COLUMN', message: 'column "cancer" is not in the header' } as RatesErrorReport['error'],
  errorObject: 's3://test-bucket/results/b/error.json',
  finishedAt: new Date().toISOString(),
});

const primesResult = (overrides: Partial<PrimesRunResult> = {}): PrimesRunResult => ({
  start: 100_000_000,
  end: 101_000_000,
  backend: 'lambda',
  count: 40_000,
  complete: false,
  chunks: [
    { start: 100_000_000, end: 100_500_000, count: 40_000, ms: 900, attempts: 1 },
    {
      start: 100_500_000,
      end: 101_000_000,
      attempts: 3,
      error: { kind: 'function', type: 'Runtime.OutOfMemory', message: 'out of memory' },
    },
  ],
  failedChunks: [
    {
      start: 100_500_000,
      end: 101_000_000,
      attempts: 3,
      error: { kind: 'function', type: 'Runtime.OutOfMemory', message: 'out of memory' },
    },
  ],
  wallMs: 1200.5,
  workerMs: 900,
  speedup: 0.75,
  cost: null,
  ...overrides,
});

describe('the middlewares and the record helpers', () => {
  it('counts a redelivered rates event as a duplicate, never again as rows, and logs where its results are', async () => {
    const done = ratesOk('uploads/a.csv', 500, 3, 1234.5);
    const handler = middy(async () => {
      obs.recordRates([{ ...done, alreadyProcessed: true }]);
      return 'done';
    }).use(obs.observability());
    const run = await capture(() => handler(undefined, contextFor('req-rates-dup')));
    expect(run.error).toBeUndefined();
    const line = logLine(run, 'rates event already processed');
    expectContext(line, 'req-rates-dup');
    expect(line).toMatchObject({ level: 'INFO', key: 'uploads/a.csv', runId: 'run-1', summary: done.outputs.summary });
    const [doc] = emfDocs(run);
    expect(doc).toMatchObject({ job: 'rates', RatesDuplicates: 1 });
    expect(doc).not.toHaveProperty('RowsProcessed');
    expect(doc).not.toHaveProperty('RatesFailed');
  });

  it('put the request id on every log line and flush one EMF document per invocation', async () => {
    const handler = middy(async () => {
      obs.logger.info('working', { step: 1 });
      obs.recordRates([ratesOk('uploads/a.csv', 500, 3, 1234.5), ratesError('uploads/b.csv')]);
      return 'done';
    }).use(obs.observability());

    const run = await capture(() => handler(undefined, contextFor('req-rates-1')));
    expect(run.error).toBeUndefined();
    expect(run.value).toBe('done');

    const logs = logLines(run);
    expect(logs.map((line) => line.message).sort()).toEqual(['rates run failed', 'rates run finished', 'working']);
    for (const line of logs) expectContext(line, 'req-rates-1');
    expect(logLine(run, 'working')).toMatchObject({ level: 'INFO', step: 1 });
    const finished = logLine(run, 'rates run finished');
    expect(finished).toMatchObject({
      level: 'INFO',
      bucket: 'test-bucket',
      key: 'uploads/a.csv',
      runId: 'run-1',
      rows: 500,
      badRows: 3,
      ms: 1234.5,
    });
    // Counts only: never the rows themselves.
    expect(JSON.stringify(logs)).not.toContain('555-0100');
    expect(logLine(run, 'rates run failed')).toMatchObject({
      level: 'WARN',
      key: 'uploads/b.csv',
      error: { code: 'MISSING_COLUMN', message: 'column "cancer" is not in the header' },
      errorObject: 's3://test-bucket/results/b/error.json',
    });

    const doc = onlyEmfDoc(run);
    expect(doc._aws.CloudWatchMetrics).toHaveLength(1);
    expect(doc._aws.CloudWatchMetrics[0]!.Namespace).toBe('cloud-parallel');
    expect(doc._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'job']]);
    expect(metricUnits(doc)).toEqual({
      RowsProcessed: 'Count',
      BadRows: 'Count',
      RatesDurationMs: 'Milliseconds',
      RatesFailed: 'Count',
    });
    expect(doc).toMatchObject({
      service: 'cloud-parallel',
      job: 'rates',
      RowsProcessed: 500,
      BadRows: 3,
      RatesDurationMs: 1234.5,
      RatesFailed: [0, 1],
    });
  });

  it('flush the metrics of an invocation that throws, log its error with the request id, and reset keys after it', async () => {
    const failing = middy(async () => {
      obs.logger.appendKeys({ tenant: 'acme' });
      obs.recordPrimes(primesResult());
      const error = new Error('the pool exploded');
      obs.logFailure('primes', error);
      throw error;
    }).use(obs.observability());

    const run = await capture(() => failing(undefined, contextFor('req-throw')));
    expect(run.error).toBeInstanceOf(Error);
    expect((run.error as Error).message).toBe('the pool exploded');

    for (const line of logLines(run)) expectContext(line, 'req-throw');
    const failed = logLine(run, 'primes invocation failed');
    expect(failed).toMatchObject({
      level: 'ERROR',
      tenant: 'acme',
      error: { name: 'Error', message: 'the pool exploded', stack: expect.stringContaining('the pool exploded') },
    });
    expect(logLine(run, 'primes run finished')).toMatchObject({
      level: 'INFO',
      backend: 'lambda',
      count: 40_000,
      complete: false,
      chunks: 2,
      failedChunks: 1,
      speedup: 0.75,
    });
    expect(logLine(run, 'primes chunks failed')).toMatchObject({
      level: 'WARN',
      failedChunks: [{ start: 100_500_000, end: 101_000_000, attempts: 3, error: { type: 'Runtime.OutOfMemory' } }],
    });

    const doc = onlyEmfDoc(run);
    expect(doc._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'job', 'backend']]);
    expect(metricUnits(doc)).toEqual({
      PrimesCounted: 'Count',
      ChunksFailed: 'Count',
      PrimesWallMs: 'Milliseconds',
      PrimesSpeedup: 'None',
    });
    expect(doc).toMatchObject({
      job: 'primes',
      backend: 'lambda',
      PrimesCounted: 40_000,
      ChunksFailed: 1,
      PrimesWallMs: 1200.5,
      PrimesSpeedup: 0.75,
    });

    // The next invocation: its own request id, no key left over, nothing recorded so no EMF and no warning about it.
    const quiet = middy(async () => {
      obs.logger.info('nothing to record');
    }).use(obs.observability());
    const next = await capture(() => quiet(undefined, contextFor('req-next')));
    expect(next.error).toBeUndefined();
    expect(logLines(next)).toHaveLength(1);
    const line = logLine(next, 'nothing to record');
    expectContext(line, 'req-next');
    expect(line).not.toHaveProperty('tenant');
    expect(emfDocs(next)).toEqual([]);
  });

  it('record a scrape per source, with every count', async () => {
    const result: ScrapeResult = {
      source: 'yelp',
      fetched: 78,
      upserted: 70,
      modified: 5,
      unchanged: 3,
      failed: [
        { id: 'biz-1', reason: 'HTTP 404' },
        { id: 'city:Austin', reason: 'timeout' },
      ],
      left: ['biz-9'],
      wallMs: 2345.6,
      requests: 90,
      retries: 7,
    };
    const handler = middy(async () => obs.recordScrape(result)).use(obs.observability());
    const run = await capture(() => handler(undefined, contextFor('req-scrape')));
    expect(run.error).toBeUndefined();

    for (const line of logLines(run)) expectContext(line, 'req-scrape');
    expect(logLine(run, 'scrape run finished')).toMatchObject({
      level: 'INFO',
      source: 'yelp',
      fetched: 78,
      upserted: 70,
      modified: 5,
      unchanged: 3,
      failed: 2,
      left: 1,
      requests: 90,
      retries: 7,
      wallMs: 2345.6,
    });
    expect(logLine(run, 'scrape records failed')).toMatchObject({ level: 'WARN', failed: result.failed });

    const doc = onlyEmfDoc(run);
    expect(doc._aws.CloudWatchMetrics[0]!.Namespace).toBe('cloud-parallel');
    expect(doc._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'job', 'source']]);
    expect(metricUnits(doc)).toEqual({
      DocumentsUpserted: 'Count',
      DocumentsModified: 'Count',
      DocumentsUnchanged: 'Count',
      FetchFailed: 'Count',
      ScrapeLeft: 'Count',
      ScrapeRequests: 'Count',
      ScrapeRetries: 'Count',
      ScrapeWallMs: 'Milliseconds',
    });
    expect(doc).toMatchObject({
      job: 'scrape',
      source: 'yelp',
      DocumentsUpserted: 70,
      DocumentsModified: 5,
      DocumentsUnchanged: 3,
      FetchFailed: 2,
      ScrapeLeft: 1,
      ScrapeRequests: 90,
      ScrapeRetries: 7,
      ScrapeWallMs: 2345.6,
    });
  });

  it('record a rates batch that throws: the files done, and each failed one at ERROR', async () => {
    const batchError = new RatesBatchError(
      '1 of 2 rates run(s) failed and will be retried',
      [{ key: 'uploads/b.csv', error: new Error('S3 is down') }],
      [ratesOk('uploads/a.csv', 10, 0, 50)],
    );
    const handler = middy(async () => {
      obs.recordRatesFailure(batchError);
      throw batchError;
    }).use(obs.observability());
    const run = await capture(() => handler(undefined, contextFor('req-batch')));
    expect(run.error).toBe(batchError);
    expect(logLine(run, 'rates run finished')).toMatchObject({ key: 'uploads/a.csv', rows: 10 });
    const failed = logLine(run, 'rates invocation failed');
    expectContext(failed, 'req-batch');
    expect(failed).toMatchObject({ level: 'ERROR', key: 'uploads/b.csv', error: { message: 'S3 is down' } });
    const doc = onlyEmfDoc(run);
    expect(doc).toMatchObject({ job: 'rates', RowsProcessed: 10, RatesFailed: [0, 1] });
  });

  it('never print a MongoDB URI, credentials in a URL or a field named like a secret', async () => {
    // Assembled at run time: written out, they would be (rightly) flagged by the secrets check (test/secrets.test.ts).
    const mongoUri = ['mongodb+srv://scraper', 'hunter2@cluster0.example.net/scrape?retryWrites=true'].join(':');
    const urlWithPassword = ['https://bob', 's3cret@api.example.com/v3'].join(':');
    const handler = middy(async () => {
      obs.logger.error('connect failed', new Error(`cannot reach ${mongoUri}`));
      obs.logger.info('calling', {
        apiKey: 'yelp-key-123',
        url: urlWithPassword,
        headers: { Authorization: 'Bearer abc' },
      });
    }).use(obs.observability());
    const run = await capture(() => handler(undefined, contextFor('req-secrets')));
    const text = JSON.stringify(logLines(run));
    expect(logLines(run)).toHaveLength(2);
    for (const secret of ['hunter2', 'cluster0.example.net', 'yelp-key-123', 's3cret', 'Bearer abc'])
      expect(text).not.toContain(secret);
    expect(logLine(run, 'connect failed')).toMatchObject({ error: { message: 'cannot reach mongodb://[redacted]' } });
    expect(logLine(run, 'calling')).toMatchObject({
      apiKey: '[redacted]',
      url: 'https://[redacted]@api.example.com/v3',
      headers: { Authorization: '[redacted]' },
    });
  });

  it('count an event answered with an error object as InvalidInput', async () => {
    const handler = middy(async () =>
      obs.recordRejected('scrape', { code: 'INVALID_INPUT', message: 'cities must name at least one city' }),
    ).use(obs.observability());
    const run = await capture(() => handler(undefined, contextFor('req-bad')));
    expect(logLine(run, 'input rejected')).toMatchObject({
      level: 'WARN',
      job: 'scrape',
      error: { code: 'INVALID_INPUT', message: 'cities must name at least one city' },
      function_request_id: 'req-bad',
    });
    const doc = onlyEmfDoc(run);
    expect(metricUnits(doc)).toEqual({ InvalidInput: 'Count' });
    expect(doc).toMatchObject({ job: 'scrape', InvalidInput: 1 });
  });
});

describe('the real handlers', () => {
  it('primes-worker: its reply and its clock, ChunkMs in EMF and a summary line with the request id; a bad task logged at ERROR', async () => {
    const { handler } = (await import('../../functions/primes-worker.ts')) as { handler: Handler };
    const run = await capture(() =>
      handler({ start: 0, end: 1000 }, contextFor('req-worker', 'cloud-parallel-dev-primes-worker')),
    );
    expect(run.error).toBeUndefined();
    // The chunk's result, plus the worker's clock the fan-out's timeline reads (lib/middleware/worker-facts.ts).
    expect(run.value).toEqual({
      start: 0,
      end: 1000,
      count: 168,
      ms: expect.any(Number),
      fanoutWorker: {
        startedAt: expect.any(Number),
        endedAt: expect.any(Number),
        workerId: expect.any(String),
        coldStart: true,
      },
    });
    const { ms } = run.value as { ms: number };

    const summary = logLine(run, 'primes chunk finished');
    expect(run.stdout).toContainEqual(summary);
    expectContext(summary, 'req-worker', 'cloud-parallel-dev-primes-worker');
    expect(summary).toMatchObject({ level: 'INFO', start: 0, end: 1000, count: 168, ms, primes: 'none' });
    const doc = onlyEmfDoc(run);
    expect(metricUnits(doc)).toEqual({ ChunkMs: 'Milliseconds' });
    expect(doc).toMatchObject({ job: 'primes-worker', ChunkMs: ms });
    expect(run.stdout).toContainEqual(doc);

    const bad = await capture(() =>
      handler({ start: 5, end: 1 }, contextFor('req-worker-bad', 'cloud-parallel-dev-primes-worker')),
    );
    expect((bad.error as Error).message).toMatch(/start must be ≤ end/);
    const failed = logLine(bad, 'primes-worker invocation failed');
    expectContext(failed, 'req-worker-bad', 'cloud-parallel-dev-primes-worker');
    expect(failed).toMatchObject({ level: 'ERROR', error: { name: 'UserError', code: 'INVALID_INPUT' } });
    expect(emfDocs(bad)).toEqual([]);
  });

  it('rates: an invalid event gets the same reply as before, an InvalidInput metric and a WARN line', async () => {
    const { handler } = (await import('../../functions/rates.ts')) as { handler: Handler };
    const run = await capture(() => handler({ key: 42 }, contextFor('req-rates-bad', 'cloud-parallel-dev-rates')));
    expect(run.value).toEqual({
      error: { code: 'INVALID_EVENT', message: expect.stringMatching(/^Expected an S3 event or \{"key"/) },
    });
    const rejected = logLine(run, 'input rejected');
    expectContext(rejected, 'req-rates-bad', 'cloud-parallel-dev-rates');
    expect(rejected).toMatchObject({
      level: 'WARN',
      job: 'rates',
      error: { code: 'INVALID_EVENT', message: expect.stringContaining('key') },
    });
    expect(emfDocs(run)).toEqual([expect.objectContaining({ job: 'rates', InvalidInput: 1 })]);
  });
});

describe('outside Lambda', () => {
  it('a script importing a handler keeps its stdout: logs and EMF go to stderr', async () => {
    vi.resetModules();
    vi.stubEnv('AWS_EXECUTION_ENV', undefined);
    const { handler } = (await import('../../functions/primes-worker.ts')) as { handler: Handler };
    const run = await capture(() => handler({ start: 0, end: 1000 }, contextFor('req-script')));
    expect(run.value).toMatchObject({ count: 168 });
    expect(run.rawStdout).toBe('');
    expect(run.stderr).toContainEqual(
      expect.objectContaining({ message: 'primes chunk finished', function_request_id: 'req-script' }),
    );
    expect(run.stderr).toContainEqual(
      expect.objectContaining({ job: 'primes-worker', ChunkMs: (run.value as { ms: number }).ms }),
    );
  });

  it('under `sls invoke local` (IS_LOCAL=true, even with Lambda variables set) stdout is for the reply only, cold-start metric included', async () => {
    vi.resetModules();
    vi.stubEnv('IS_LOCAL', 'true');
    vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs22.x');
    // Makes this a cold start, as in a new Lambda container, so the ColdStart metric is emitted too.
    vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
    const { handler } = (await import('../../functions/primes-worker.ts')) as { handler: Handler };
    const run = await capture(() =>
      handler({ start: 0, end: 1000 }, contextFor('req-local', 'cloud-parallel-dev-primes-worker')),
    );
    expect(run.error).toBeUndefined();
    expect(run.value).toMatchObject({ count: 168 });
    expect(run.rawStdout).toBe('');

    const summary = logLine(run, 'primes chunk finished');
    expectContext(summary, 'req-local', 'cloud-parallel-dev-primes-worker');
    expect(summary).toMatchObject({ cold_start: true, count: 168 });
    const docs = emfDocs(run);
    expect(docs).toHaveLength(2);
    const coldStart = docs.find((doc) => 'ColdStart' in doc);
    expect(coldStart).toMatchObject({ ColdStart: 1, function_name: 'cloud-parallel-dev-primes-worker' });
    expect(coldStart!._aws.CloudWatchMetrics[0]!.Namespace).toBe('cloud-parallel');
    expect(docs.find((doc) => 'ChunkMs' in doc)).toMatchObject({
      job: 'primes-worker',
      ChunkMs: (run.value as { ms: number }).ms,
    });

    // A failing invocation: nothing on stdout either.
    const bad = await capture(() =>
      handler({ start: 5, end: 1 }, contextFor('req-local-bad', 'cloud-parallel-dev-primes-worker')),
    );
    expect(bad.error).toBeInstanceOf(Error);
    expect(bad.rawStdout).toBe('');
    expect(logLine(bad, 'primes-worker invocation failed')).toMatchObject({
      function_request_id: 'req-local-bad',
      cold_start: false,
    });
  });
});
