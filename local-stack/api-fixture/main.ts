/** The API fixture as a process: prints one JSON line (`ready`, the base URLs, the key) on stdout when ready. */
import { describeIssues } from '../../lib/validation.ts';
import { commonServerOptions, parseServerArgs } from '../shared/server-args.ts';
import { integerOption, runServerMain } from '../shared/server-process.ts';
import { faultOptionsSchema, type FaultOptions } from './faults.ts';
import { DEFAULT_API_KEY, DEFAULT_SEED, startApiFixture, type ApiFixtureOptions } from './server.ts';

export const DEFAULT_CLI_PORT = 4575;

export interface ApiFixtureCliOptions extends ApiFixtureOptions {
  silent: boolean;
}

export function parseCliArgs(argv: string[]): ApiFixtureCliOptions {
  const values = parseServerArgs(argv, DEFAULT_CLI_PORT, ['latency-ms', 'seed', 'api-key', 'faults']);
  const common = commonServerOptions(values);
  const latencyMs = integerOption('latency-ms', values['latency-ms'], 0);
  const seed = integerOption('seed', values.seed, Number.MIN_SAFE_INTEGER);
  let faults: FaultOptions | undefined;
  if (values.faults !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(values.faults);
    } catch {
      throw new Error(
        `--faults must be JSON, e.g. '{"serverErrorRate":0.1,"rateLimitEvery":20}', got ${values.faults}`,
      );
    }
    const parsed = faultOptionsSchema.safeParse(json);
    if (!parsed.success) throw new Error(`--faults: ${describeIssues(parsed.error, 'faults')}`);
    faults = parsed.data;
  }
  if (values['api-key'] === '') throw new Error('--api-key must not be empty');
  return {
    ...common,
    ...(latencyMs === undefined ? {} : { latencyMs }),
    ...(seed === undefined ? {} : { seed }),
    ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
    ...(faults === undefined ? {} : { faults }),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'api',
  usage:
    `api-fixture/main.ts [--port ${DEFAULT_CLI_PORT}] [--host 127.0.0.1] [--latency-ms 0] [--seed ${DEFAULT_SEED}] ` +
    `[--api-key ${DEFAULT_API_KEY}] [--faults '{"serverErrorRate":0.05,"rateLimitEvery":50}'] [--silent]`,
  parse: parseCliArgs,
  start: async (options) => {
    const fixture = await startApiFixture(options);
    const { baseUrl, yelpBaseUrl, hnBaseUrl, apiKey } = fixture;
    return { ready: { ready: true, baseUrl, yelpBaseUrl, hnBaseUrl, apiKey }, close: () => fixture.close() };
  },
  what: 'shutting down',
  graceMs: 3000,
});
