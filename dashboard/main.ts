/**
 * The dashboard as a process: `node --import tsx dashboard/main.ts --bucket <data bucket> [--primes-function <name>]
 * [--port 4580]` with the token in CLOUD_PARALLEL_DASHBOARD_TOKEN (the environment, not the command line: `ps` shows
 * arguments to every user). S3 and Lambda are reached with the SDK's usual chain (the stack passes its endpoints and
 * credentials), as the CLI does. Without --primes-function the Runs page only reads runs. Prints one JSON line when
 * ready.
 */
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { createSsmClient } from '../lib/aws/ssm.ts';
import { createSecretResolver } from '../lib/scrape/config.ts';
import { SCRAPE_FUNCTION_TIMEOUT_SECONDS } from '../lib/scrape/invoke.ts';
import { commonServerOptions, parseServerArgs } from '../local-stack/shared/server-args.ts';
import { runServerMain } from '../local-stack/shared/server-process.ts';
import { createScrapeServices, type ScrapeServices } from './pages/scrapes/services.ts';
import { type DashboardOptions, startDashboard } from './server.ts';
import { DASHBOARD_TOKEN_ENV, DEFAULT_DASHBOARD_PORT } from './settings.ts';

export function parseDashboardArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DashboardOptions {
  const values = parseServerArgs(argv, DEFAULT_DASHBOARD_PORT, ['bucket', 'primes-function', 'scrape-function']);
  if (!values.bucket) throw new Error('--bucket must name the data bucket the rates uploads go to');
  const token = env[DASHBOARD_TOKEN_ENV];
  if (!token || token.length < 32) throw new Error(`${DASHBOARD_TOKEN_ENV} must hold the login token (32+ characters)`);
  const { port, host, silent } = commonServerOptions(values);
  const log = silent ? undefined : (line: string) => process.stderr.write(`[dashboard] ${line}\n`);
  const scrapes = scrapeServices(values['scrape-function'], env, log);
  return {
    port,
    host: host ?? '127.0.0.1',
    token,
    silent,
    services: {
      s3: createS3Client(env),
      bucket: values.bucket,
      // The client's request timeout outlasts the fan-out function's (Lambda's 900 s at most): a run is one request.
      ...(values['primes-function']
        ? { primes: { lambda: createLambdaClient(), fanoutFunction: values['primes-function'] } }
        : {}),
      ...(scrapes === undefined ? {} : { scrapes }),
    },
    ...(log === undefined ? {} : { log }),
  };
}

/**
 * The Scrapes page's services, when the stack gives MongoDB's URI (MONGODB_URI, as it gives the scrape function)
 * and `--scrape-function` names the function; without them the page says what is missing.
 */
function scrapeServices(
  functionName: string | undefined,
  env: NodeJS.ProcessEnv,
  log: ((line: string) => void) | undefined,
): ScrapeServices | undefined {
  if (functionName === undefined || (env.MONGODB_URI === undefined && env.MONGODB_URI_PARAMETER === undefined))
    return undefined;
  return createScrapeServices({
    env,
    lambda: createLambdaClient({ workerTimeoutSeconds: SCRAPE_FUNCTION_TIMEOUT_SECONDS }),
    functionName,
    readSecret: createSecretResolver(createSsmClient()),
    ...(log === undefined ? {} : { log }),
  });
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'dashboard',
  usage: `dashboard/main.ts --bucket <name> [--primes-function <name>] [--scrape-function <name>] [--port ${DEFAULT_DASHBOARD_PORT}] [--host 127.0.0.1] [--silent]  (token in ${DASHBOARD_TOKEN_ENV})`,
  parse: (argv) => parseDashboardArgs(argv),
  start: async (options) => {
    const dashboard = await startDashboard(options);
    const close = async () => {
      await dashboard.close();
      await options.services.scrapes?.close();
    };
    return { ready: { ready: true, url: dashboard.url, port: dashboard.port }, close };
  },
  what: 'shutting down',
  graceMs: 2000,
});
