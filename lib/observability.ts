/**
 * Observability for the Lambda handlers: structured JSON logs (Powertools Logger) and one CloudWatch EMF
 * document of metrics per invocation (Powertools Metrics). Every handler does `.use(observability())`.
 * This module is only the setup (logger, metrics instance, redaction, where they print); what is recorded lives
 * beside each job — lib/rates/metrics.ts, lib/primes/metrics.ts, lib/scrape/metrics.ts — and the rejections and
 * failures every handler records in lib/middleware/job-errors.ts. The contract they keep is listed here, in one place.
 *
 * LOGS — one JSON object per line, each with `level`, `message`, `timestamp`, `service` and, from the middleware,
 * `function_request_id`, `function_name`, `function_arn`, `function_memory_size`, `cold_start` (and `xray_trace_id`
 * when tracing is on). Per invocation:
 *   - INFO  one summary line: "rates run finished" (per uploaded file: key, runId, rows, badRows, ms),
 *           "primes run finished" (range, backend, chunks, count, complete, wallMs, speedup, cost),
 *           "primes chunk finished" (range, count, ms), "scrape run finished" (counts, requests, retries, wallMs).
 *   - WARN  "rates run failed" (a bad file: key, error code and message), "primes chunks failed" (up to 10
 *           chunks and their errors), "scrape records failed" (up to 10 ids and reasons), "input rejected" (an
 *           event the handler answered with an error object: job, error code and message).
 *   - ERROR "<job> invocation failed" with the error (name, message, stack) when the handler throws.
 *   Never logged: events, records, prime lists, the MongoDB URI or API keys. As a second line of defence every line
 *   goes through `redactSecrets`, which masks MongoDB URIs, credentials in URLs and fields named like secrets.
 *
 * METRICS — namespace `cloud-parallel`, dimensions `service` (always) and `job`, plus the ones listed:
 *   | job           | metric             | unit         | extra dimension | value                                   |
 *   |---------------|--------------------|--------------|-----------------|-----------------------------------------|
 *   | rates         | RowsProcessed      | Count        |                 | rows of a file that ran (one per file)  |
 *   | rates         | BadRows            | Count        |                 | rows skipped in it                      |
 *   | rates         | RatesDurationMs    | Milliseconds |                 | the run's total time                    |
 *   | rates         | RatesFailed        | Count        |                 | 1 per file that failed (a bad file, or  |
 *   |               |                    |              |                 | an S3 error Lambda retries), 0 per done |
 *   | rates         | RatesDuplicates    | Count        |                 | 1 per redelivered event (no work done)  |
 *   | primes        | PrimesCounted      | Count        | backend         | the count (a partial one if chunks fail)|
 *   | primes        | ChunksFailed       | Count        | backend         | chunks that failed after their retries  |
 *   | primes        | PrimesWallMs       | Milliseconds | backend         | the fan-out's wall time                 |
 *   | primes        | PrimesSpeedup      | None         | backend         | worker time / wall time                 |
 *   | primes-worker | ChunkMs            | Milliseconds |                 | time spent sieving one chunk            |
 *   | scrape        | DocumentsUpserted  | Count        | source          | new documents                           |
 *   | scrape        | DocumentsModified  | Count        | source          | documents whose data changed            |
 *   | scrape        | DocumentsUnchanged | Count        | source          | documents written again, identical      |
 *   | scrape        | FetchFailed        | Count        | source          | ids (or city searches) not stored       |
 *   | scrape        | ScrapeLeft         | Count        | source          | ids not tried: the run stopped early    |
 *   | scrape        | ScrapeRequests     | Count        | source          | HTTP attempts                           |
 *   | scrape        | ScrapeRetries      | Count        | source          | of which retries                        |
 *   | scrape        | ScrapeWallMs       | Milliseconds | source          | the run's wall time                     |
 *   | any           | InvalidInput       | Count        |                 | events answered with an error object    |
 *   Powertools adds `ColdStart` (Count; dimensions service, function_name) on a container's first invocation.
 *   Dimension values are few (job, backend, source): never ids, keys or cities.
 *
 * ENVIRONMENT — POWERTOOLS_LOG_LEVEL (DEBUG/INFO/WARN/ERROR; default INFO), POWERTOOLS_SERVICE_NAME (the `service`
 * key and dimension; default cloud-parallel), POWERTOOLS_METRICS_NAMESPACE (default cloud-parallel),
 * POWERTOOLS_METRICS_DISABLED=true (no EMF output). Avoid POWERTOOLS_LOGGER_LOG_EVENT=true in production: it logs
 * whole events. In Lambda (AWS_EXECUTION_ENV=AWS_Lambda_* or AWS_LAMBDA_INITIALIZATION_TYPE set) logs and EMF go to
 * stdout, where CloudWatch Logs reads them (Powertools prints WARN/ERROR lines on stderr, also captured). Anywhere
 * else — `sls invoke local` (IS_LOCAL=true, which wins), serverless-offline, tests, a script importing a handler —
 * they go to stderr, so stdout carries only what the caller prints: the reply, which scripts and tests parse.
 *
 * ALARMS an operator should set:
 *   - RatesFailed Sum > 0 (a bad file — results/<name>/error.json says why — or an S3 failure: see the ERROR line);
 *   - ChunksFailed Sum > 0 (an incomplete prime count), and PrimesWallMs p90 approaching the fan-out's timeout;
 *   - FetchFailed / (FetchFailed + DocumentsUpserted + DocumentsModified + DocumentsUnchanged) > ~10% per run,
 *     ScrapeLeft Sum > 0 (the nightly scrape ran out of time or its key was rejected), ScrapeRetries rising;
 *   - InvalidInput Sum > 0 for a scheduled job (its rule's input is wrong);
 *   - AWS/Lambda Errors > 0 and Throttles > 0 per function, and Duration p99 close to each function's timeout.
 */
import { Console } from 'node:console';
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { ConstructorOptions as LoggerOptions } from '@aws-lambda-powertools/logger/types';
import { Metrics, type MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';

export const SERVICE_NAME = process.env.POWERTOOLS_SERVICE_NAME || 'cloud-parallel';
export const METRICS_NAMESPACE = process.env.POWERTOOLS_METRICS_NAMESPACE || 'cloud-parallel';

/**
 * Inside a Lambda execution environment: the runtime sets these reserved variables; `sls invoke local`,
 * serverless-offline, tests and scripts that import a handler set neither.
 */
const inLambda =
  (process.env.AWS_EXECUTION_ENV ?? '').startsWith('AWS_Lambda_') ||
  Boolean(process.env.AWS_LAMBDA_INITIALIZATION_TYPE);

/**
 * Where logs and EMF go instead of stdout, or undefined for stdout. In Lambda stdout is the log stream CloudWatch
 * reads (and extracts EMF from). Anywhere else stdout belongs to whoever runs the handler: `sls invoke local` runs
 * it inside the CLI's process and prints the reply to stdout after it returns, and scripts print the reply there
 * too; a log line written first would come before the reply and break whoever parses it.
 */
const sideStream: NodeJS.WritableStream | undefined =
  inLambda && process.env.IS_LOCAL !== 'true' ? undefined : process.stderr;

/** The `job` dimension's values. */
export type Job = 'rates' | 'rates-worker' | 'primes' | 'primes-worker' | 'scrape';

/** Most failures a summary line lists (the counts are always complete). */
export const MAX_LISTED_FAILURES = 10;

const SECRET_KEY = /(authorization|api[_-]?key|password|passwd|secret|token|mongo(?:db)?[_-]?uri)$/i;
const MONGODB_URI = /mongodb(?:\+srv)?:\/\/[^\s"'<>]+/gi;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:"'<>]+:[^\s/@"'<>]+@/gi;

/**
 * The logger's JSON replacer: masks MongoDB URIs (they may hold a password), `user:password@` in any URL, and the
 * value of any field named like a secret (apiKey, authorization, token, ...), wherever they appear in a line.
 */
export function redactSecrets(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (SECRET_KEY.test(key)) return '[redacted]';
  return value.replace(MONGODB_URI, 'mongodb://[redacted]').replace(URL_CREDENTIALS, '$1[redacted]@');
}

/** The Powertools logger, printing to `sideStream` when there is one (its one supported hook: `printLog`). */
class ServiceLogger extends Logger {
  protected override printLog(logLevel: number, log: LogItem): void {
    if (sideStream === undefined) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    sideStream.write(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }

  protected override createLogger(options?: LoggerOptions): Logger {
    return new ServiceLogger(options);
  }
}

/**
 * Powertools Metrics prints EMF with a private console and offers no option to choose its stream; locally it is
 * pointed at `sideStream`. The cold-start metric is a separate instance (`singleMetric()`), redirected too.
 */
class ServiceMetrics extends Metrics {
  override singleMetric(): Metrics {
    return toSideStream(super.singleMetric());
  }
}

function toSideStream<T extends Metrics>(instance: T): T {
  if (sideStream === undefined) return instance;
  const internals = instance as unknown as { console?: { log?: unknown } };
  if (typeof internals.console?.log !== 'function') {
    throw new Error('@aws-lambda-powertools/metrics no longer prints through `console`: update lib/observability.ts');
  }
  internals.console = new Console({ stdout: sideStream, stderr: sideStream });
  return instance;
}

/** The process's logger: one per container, shared by the handler and lib/. */
export const logger: Logger = new ServiceLogger({ serviceName: SERVICE_NAME, jsonReplacerFn: redactSecrets });

/** Metrics' own diagnostics go through the logger; "nothing to publish" (an invocation with no metric) is routine. */
const metricsDiagnostics = {
  debug: (message: string) => logger.debug(message),
  info: (message: string) => logger.info(message),
  warn: (message: string) =>
    message.startsWith('No application metrics to publish') ? logger.debug(message) : logger.warn(message),
  error: (message: string) => logger.error(message),
};

/** The process's metrics: one per container; the middleware flushes them once per invocation. */
export const metrics: Metrics = toSideStream(
  new ServiceMetrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, logger: metricsDiagnostics }),
);

/**
 * The middlewares every handler uses: the Lambda context on every log line (keys appended during an invocation
 * are dropped after it), and the invocation's metrics flushed as one EMF document when it returns or throws.
 */
export function observability() {
  return [injectLambdaContext(logger, { resetKeys: true }), logMetrics(metrics, { captureColdStartMetric: true })];
}

type MetricUnitValue = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * A job's metrics, declared beside the job (lib/<job>/metrics.ts): their names (as CloudWatch shows them) and units.
 * Returns the function that adds one to the invocation's EMF document.
 */
export function jobMetrics<const Units extends Record<string, MetricUnitValue>>(
  units: Units,
): (name: keyof Units & string, value: number) => void {
  // `name` is a key of `units`, so the lookup is never undefined (the index check cannot see that through a generic).
  return (name, value) => metrics.addMetric(name, units[name] as MetricUnitValue, value);
}

/** An error as the logger prints it: its name, message and stack, or the thrown value as text. */
export function asLoggable(error: unknown): Error | string {
  return error instanceof Error ? error : String(error);
}
