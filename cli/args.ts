/**
 * Every command's arguments, parsed by commander (cli/parser.ts) and judged here before the command does anything:
 * no local stack, no network, no file written. `parse<Command>Args` does both in one call. A mistake is a CliError (INVALID_ARGUMENT, or FILE_NOT_FOUND / NOT_A_FILE for `rates`) whose message
 * names the flag, says what is allowed and shows what was given; the command's usage goes with it.
 *
 * Values lib validates are validated by lib's schemas (primesRunSchema, scrapeInputSchema, binCount, columnName),
 * with the problems told in terms of flags. Loaded only once a command is to run, never for `--help`; it loads nothing heavy, so a refused command line fails fast.
 */
import { binCount, columnName } from '../lib/config.ts';
import { chunkBytesSchema, type RatesSplit, workersSchema } from '../lib/rates/split.ts';
import { primesRunSchema, type PrimesRunInput } from '../lib/primes/fanout-job.ts';
import { scrapeInputSchema, type ScrapeInput } from '../lib/scrape/run.ts';
import { regionSchema, stageSchema } from '../lib/stage.ts';
import { resolveStackOptions } from '../local-stack/stack.ts';
import { CliError } from './cli-error.ts';
import { checkInputFile, checkOutDir } from './rates-files.ts';
import { parseFlags, type ParsedArgs } from './parser.ts';
import { DASHBOARD, DEMO, LOCAL, PRIMES, RATES, SCRAPE, type CommandName } from './spec.ts';
import { checkArgs, flagIssues, integerOption, portOption, shown } from './values.ts';

/** `<command> --help`: print the command's usage, do nothing else. */
export interface HelpRequest {
  help: true;
}
const HELP: HelpRequest = { help: true };

const invalid = (message: string, code = 'INVALID_ARGUMENT') => new CliError(message, code);

function noPositionals(command: CommandName, positionals: string[], hint = ''): void {
  if (positionals.length > 0) {
    throw invalid(
      `${command} takes no positional arguments, got ${positionals.map((p) => shown(p)).join(', ')}${hint}`,
    );
  }
}

// ——— local ———

export const LOCAL_ACTIONS = ['start', 'stop', 'status', 'env'] as const;
export type LocalAction = (typeof LOCAL_ACTIONS)[number];
const PORT_FLAGS = {
  s3Port: 's3-port',
  lambdaPort: 'lambda-port',
  ec2Port: 'ec2-port',
  mongoPort: 'mongo-port',
  apiPort: 'api-port',
  dashboardPort: 'dashboard-port',
} as const;
export type LocalPorts = Partial<Record<keyof typeof PORT_FLAGS, number>>;

export interface LocalRequest {
  action: LocalAction;
  ports: LocalPorts;
}

export function parseLocalArgs(args: string[]): LocalRequest | HelpRequest {
  const parsed = parseFlags(LOCAL, args);
  return parsed.help ? HELP : localRequest(parsed);
}

/** The `local` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function localRequest({ values, positionals }: ParsedArgs<typeof LOCAL.flags>): LocalRequest {
  return checkArgs('local', () => {
    const [action, ...extra] = positionals;
    const actions = LOCAL_ACTIONS.join(', ');
    if (action === undefined) throw invalid(`local needs one of: ${actions}`);
    if (!(LOCAL_ACTIONS as readonly string[]).includes(action))
      throw invalid(`unknown local command ${shown(action)}; use one of: ${actions}`);
    if (extra.length > 0)
      throw invalid(`local ${action} takes no further arguments, got ${extra.map((p) => shown(p)).join(', ')}`);
    const ports: LocalPorts = {};
    for (const [option, flag] of Object.entries(PORT_FLAGS) as [keyof typeof PORT_FLAGS, string][]) {
      const raw = values[flag as keyof typeof values];
      if (raw === undefined) continue;
      if (action !== 'start') throw invalid(`--${flag} applies to local start only`);
      ports[option] = portOption(raw, `--${flag}`);
    }
    if (action === 'start') {
      // Each service needs a port of its own; one taken twice would start half the stack and then fail.
      const resolved = resolveStackOptions(ports);
      const byPort = new Map<number, string[]>();
      for (const [option, flag] of Object.entries(PORT_FLAGS) as [keyof typeof PORT_FLAGS, string][]) {
        const port = resolved[option];
        const variable = `CLOUD_PARALLEL_${flag.replace('-port', '').toUpperCase()}_PORT`;
        const from =
          ports[option] !== undefined ? `--${flag}` : process.env[variable] ? variable : `the default --${flag}`;
        byPort.set(port, [...(byPort.get(port) ?? []), from]);
      }
      for (const [port, users] of byPort) {
        if (users.length > 1)
          throw invalid(
            `port ${port} is given to more than one service (${users.join(', ')}); each needs its own port`,
          );
      }
    }
    return { action: action as LocalAction, ports };
  });
}

// ——— rates ———

/** The longest wait for a run: the EC2 deadline's limit (EC2_DEADLINE_SECONDS, lib/config.ts), one day. */
export const MAX_TIMEOUT_SECONDS = 86_400;
const SECONDS = /^\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i;

export interface RatesRequest {
  file: string;
  options: { bins?: number; numerator?: string; denominator?: string };
  backend: 'lambda' | 'ec2';
  /** --workers / --chunk-size, by lib's split rules; absent when neither was given (the deployment decides). */
  split?: RatesSplit;
  outDir?: string;
  timeoutMs: number;
  json: boolean;
}

export function parseRatesArgs(args: string[]): RatesRequest | HelpRequest {
  const parsed = parseFlags(RATES, args);
  return parsed.help ? HELP : ratesRequest(parsed);
}

/** The `rates` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function ratesRequest({ values, positionals }: ParsedArgs<typeof RATES.flags>): RatesRequest {
  return checkArgs('rates', () => {
    if (positionals.length === 0)
      throw invalid('rates needs a CSV file: cloud-parallel rates <file.csv> [--bins N] ...');
    if (positionals.length > 1)
      throw invalid(
        `rates takes one CSV file, got ${positionals.length}: ${positionals.map((p) => shown(p)).join(', ')}`,
      );

    const backend = values.backend ?? 'lambda';
    if (backend !== 'lambda' && backend !== 'ec2')
      throw invalid(`--backend must be lambda or ec2, got ${shown(backend)}`);

    const options: RatesRequest['options'] = {};
    if (values.bins !== undefined) {
      const bins = binCount.safeParse(integerOption(values.bins, '--bins'));
      if (!bins.success) throw flagIssues(bins.error, { '': { flag: '--bins', value: values.bins } });
      options.bins = bins.data;
    }
    for (const flag of ['numerator', 'denominator'] as const) {
      const value = values[flag];
      if (value === undefined) continue;
      const parsed = columnName.safeParse(value);
      if (!parsed.success) throw flagIssues(parsed.error, { '': { flag: `--${flag}`, value } });
      // The Lambda run takes its options from the upload's S3 user metadata (x-amz-meta-numerator): HTTP header
      // values, which S3 keeps as sent only in printable ASCII (the SDK refuses most other characters outright).
      if (backend === 'lambda' && /[^\x20-\x7e]/.test(parsed.data)) {
        throw invalid(
          `--${flag} ${shown(value)} cannot travel to the rates function: the lambda backend passes it as S3 object metadata, ` +
            'which carries printable ASCII only; use --backend ec2 for this column',
        );
      }
      options[flag] = parsed.data;
    }

    const split = ratesSplit(values);

    let timeoutSeconds = 300;
    if (values.timeout !== undefined) {
      timeoutSeconds = SECONDS.test(values.timeout) ? Number(values.timeout) : Number.NaN;
      if (!(timeoutSeconds > 0 && timeoutSeconds <= MAX_TIMEOUT_SECONDS)) {
        throw invalid(
          `--timeout must be a number of seconds, more than 0 and at most ${MAX_TIMEOUT_SECONDS} (a day), got ${shown(values.timeout)}`,
        );
      }
    }

    const request: RatesRequest = {
      file: checkInputFile(positionals[0]!, backend, split),
      options,
      backend,
      timeoutMs: timeoutSeconds * 1000,
      json: values.json === true,
    };
    if (split !== undefined) request.split = split;
    if (values.out !== undefined) request.outDir = checkOutDir(values.out);
    return request;
  });
}

/** --workers N or --chunk-size SIZE, judged by the rules the job applies to them again (lib/rates/split.ts). */
function ratesSplit(values: ParsedArgs<typeof RATES.flags>['values']): RatesSplit | undefined {
  const { workers, 'chunk-size': chunkSize } = values;
  if (workers !== undefined && chunkSize !== undefined) throw invalid('give --workers or --chunk-size, not both');
  let split: RatesSplit | undefined;
  if (workers !== undefined) {
    const parsed = workersSchema.safeParse(integerOption(workers, '--workers'));
    if (!parsed.success) throw flagIssues(parsed.error, { '': { flag: '--workers', value: workers } });
    split = { workers: parsed.data };
  }
  if (chunkSize !== undefined) {
    const parsed = chunkBytesSchema.safeParse(chunkSize);
    if (!parsed.success) throw flagIssues(parsed.error, { '': { flag: '--chunk-size', value: chunkSize } });
    split = { chunkBytes: parsed.data };
  }
  return split;
}

const PRIMES_FLAGS = {
  start: 'start',
  end: 'end',
  chunks: 'chunks',
  chunkSize: 'chunk-size',
  backend: 'backend',
  concurrency: 'concurrency',
  chunksPerInstance: 'chunks-per-instance',
} as const;

export interface PrimesRequest {
  input: PrimesRunInput;
  json: boolean;
  /** --out: where the run's timeline and summary go too. */
  outDir?: string;
}

export function parsePrimesArgs(args: string[]): PrimesRequest | HelpRequest {
  const parsed = parseFlags(PRIMES, args);
  return parsed.help ? HELP : primesRequest(parsed);
}

/** The `primes` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function primesRequest({ values, positionals }: ParsedArgs<typeof PRIMES.flags>): PrimesRequest {
  return checkArgs('primes', () => {
    noPositionals('primes', positionals, '; use --start S --end E');
    const missing = (['start', 'end'] as const).filter((flag) => values[flag] === undefined);
    if (missing.length > 0)
      throw invalid(`primes needs ${missing.map((flag) => `--${flag}`).join(' and ')}, e.g. --start 1e8 --end 1.01e8`);
    if (values.chunks !== undefined && values['chunk-size'] !== undefined)
      throw invalid('give --chunks or --chunk-size, not both');
    const backend = values.backend ?? 'lambda';
    if (values['chunks-per-instance'] !== undefined && backend !== 'ec2')
      throw invalid('--chunks-per-instance applies to --backend ec2 only');
    const raw: Record<string, unknown> = { backend };
    for (const [field, flag] of Object.entries(PRIMES_FLAGS)) {
      if (field === 'backend') continue;
      const value = integerOption(
        values[flag],
        `--${flag}`,
        field === 'start' || field === 'end' ? '100000000 or 1e8' : undefined,
      );
      if (value !== undefined) raw[field] = value;
    }
    const parsed = primesRunSchema.safeParse(raw);
    if (!parsed.success) {
      const names = Object.entries(PRIMES_FLAGS).map(([field, flag]) => [
        field,
        { flag: `--${flag}`, value: values[flag], word: field === 'start' || field === 'end' },
      ]);
      throw flagIssues(parsed.error, Object.fromEntries(names));
    }
    const input = parsed.data;
    if (input.chunks === undefined && input.chunkSize === undefined) input.chunks = 2;
    const request: PrimesRequest = { input, json: values.json === true };
    if (values.out !== undefined) request.outDir = checkOutDir(values.out);
    return request;
  });
}

// ——— scrape ———

/**
 * `cities` as people type them on a command line. A `;` separates cities when present; otherwise commas do, and a
 * two-letter state or country code after a comma stays with its city: "San Francisco, CA, Austin, TX" is two cities.
 */
export function splitCities(text: string): string[] {
  if (text.includes(';'))
    return text
      .split(';')
      .map((c) => c.trim())
      .filter(Boolean);
  const cities: string[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    if (/^[A-Z]{2}$/.test(part) && cities.length > 0) cities[cities.length - 1] += `, ${part}`;
    else cities.push(part);
  }
  return cities;
}

const IDS_HINT = 'a range such as 1-20 or a list such as 1,5,9';

/** `--ids`: "A-B" goes to lib as is (it checks the range before expanding it); a list becomes numbers. */
function hnIds(text: string): string | number[] {
  if (/^\s*\d+\s*-\s*\d+\s*$/.test(text)) return text;
  const parts = text.split(',').map((part) => part.trim());
  if (parts.some((part) => !/^\d+$/.test(part))) throw invalid(`--ids must be ${IDS_HINT}, got ${shown(text)}`);
  return parts.map((part) => {
    const id = Number(part);
    if (!Number.isSafeInteger(id))
      throw invalid(`--ids: ${part} is not an item id (at most ${Number.MAX_SAFE_INTEGER})`);
    return id;
  });
}

export interface ScrapeRequest {
  input: ScrapeInput;
  json: boolean;
}

export function parseScrapeArgs(args: string[]): ScrapeRequest | HelpRequest {
  const parsed = parseFlags(SCRAPE, args);
  return parsed.help ? HELP : scrapeRequest(parsed);
}

/** The `scrape` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function scrapeRequest({ values, positionals }: ParsedArgs<typeof SCRAPE.flags>): ScrapeRequest {
  return checkArgs('scrape', () => {
    noPositionals('scrape', positionals);
    const names: Record<string, { flag: string; value?: string | undefined }> = {
      concurrency: { flag: '--concurrency', value: values.concurrency },
    };
    const input: Record<string, unknown> = {};
    if (values.source === 'yelp') {
      if (values.ids !== undefined) throw invalid('--ids is for --source hn; Yelp takes --cities');
      if (values.cities === undefined && values.city === undefined)
        throw invalid('--source yelp needs --cities, e.g. --cities "Austin, TX; Chicago, IL"');
      const cities = [...(values.cities === undefined ? [] : splitCities(values.cities)), ...(values.city ?? [])];
      input.source = 'yelp';
      input.cities = cities;
      const flag = values.city === undefined ? '--cities' : values.cities === undefined ? '--city' : '--cities/--city';
      names.cities = { flag, value: values.city === undefined ? values.cities : undefined };
      names.limit = { flag: '--limit', value: values.limit };
      const limit = integerOption(values.limit, '--limit');
      if (limit !== undefined) input.limit = limit;
    } else if (values.source === 'hn') {
      if (values.cities !== undefined || values.city !== undefined || values.limit !== undefined) {
        throw invalid('--cities/--city/--limit are for --source yelp; HN takes --ids 1-20 or --ids 1,5,9');
      }
      if (values.ids === undefined) throw invalid('--source hn needs --ids, e.g. --ids 1-20');
      input.source = 'hn';
      input.ids = hnIds(values.ids);
      names.ids = { flag: '--ids', value: values.ids };
    } else {
      throw invalid(`--source must be yelp or hn${values.source === undefined ? '' : `, got ${shown(values.source)}`}`);
    }
    const concurrency = integerOption(values.concurrency, '--concurrency');
    if (concurrency !== undefined) input.concurrency = concurrency;
    const parsed = scrapeInputSchema.safeParse(input);
    if (!parsed.success) throw flagIssues(parsed.error, names);
    return { input: parsed.data, json: values.json === true };
  });
}

// ——— demo ———

export interface DemoRequest {
  /** Leave the stack running at the end (it is stopped otherwise, when the demo started it). */
  keep: boolean;
}

export function parseDemoArgs(args: string[]): DemoRequest | HelpRequest {
  const parsed = parseFlags(DEMO, args);
  return parsed.help ? HELP : demoRequest(parsed);
}

/** The `demo` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function demoRequest({ values, positionals }: ParsedArgs<typeof DEMO.flags>): DemoRequest {
  return checkArgs('demo', () => {
    noPositionals('demo', positionals);
    return { keep: values.keep === true };
  });
}

// ——— dashboard ———

/** A port of its own, so it runs beside the local stack's dashboard (4580). */
export const DEFAULT_STAGE_DASHBOARD_PORT = 4581;

export interface DashboardRequest {
  stage: string;
  region?: string;
  bucket?: string;
  port: number;
  allowRuns: boolean;
}

export function parseDashboardArgs(args: string[]): DashboardRequest | HelpRequest {
  const parsed = parseFlags(DASHBOARD, args);
  return parsed.help ? HELP : dashboardRequest(parsed);
}

/** The `dashboard` request from its parsed flags: a stage is required; region and bucket as names AWS accepts. */
export function dashboardRequest({ values, positionals }: ParsedArgs<typeof DASHBOARD.flags>): DashboardRequest {
  return checkArgs('dashboard', () => {
    noPositionals('dashboard', positionals);
    if (values.stage === undefined) throw invalid('dashboard needs --stage, the deployed stage to show (e.g. dev)');
    const judge = (schema: typeof stageSchema, value: string, flag: string): string => {
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw invalid(`${flag} ${parsed.error.issues[0]?.message}, got ${shown(value)}`);
      return parsed.data;
    };
    const request: DashboardRequest = {
      stage: judge(stageSchema, values.stage, '--stage'),
      port: portOption(values.port, '--port') ?? DEFAULT_STAGE_DASHBOARD_PORT,
      allowRuns: values['allow-runs'] === true,
    };
    if (values.region !== undefined) request.region = judge(regionSchema, values.region, '--region');
    if (values.bucket !== undefined) {
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(values.bucket))
        throw invalid(`--bucket must be an S3 bucket name, got ${shown(values.bucket)}`);
      request.bucket = values.bucket;
    }
    return request;
  });
}
