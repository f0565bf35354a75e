/**
 * The dashboard as a process: `node --import tsx dashboard/main.ts --bucket <data bucket> [--primes-function <name>]
 * [--port 4580]` with the token in CLOUD_PARALLEL_DASHBOARD_TOKEN (the environment, not the command line: `ps` shows
 * arguments to every user). S3 and Lambda are reached with the SDK's usual chain (the stack passes its endpoints and
 * credentials), as the CLI does. Without --primes-function the Runs page only reads runs. Prints one JSON line when
 * ready.
 */
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { commonServerOptions, parseServerArgs } from '../local-stack/shared/server-args.ts';
import { runServerMain } from '../local-stack/shared/server-process.ts';
import { type DashboardOptions, startDashboard } from './server.ts';
import { DASHBOARD_TOKEN_ENV, DEFAULT_DASHBOARD_PORT } from './settings.ts';

export function parseDashboardArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DashboardOptions {
  const values = parseServerArgs(argv, DEFAULT_DASHBOARD_PORT, ['bucket', 'primes-function']);
  if (!values.bucket) throw new Error('--bucket must name the data bucket the rates uploads go to');
  const token = env[DASHBOARD_TOKEN_ENV];
  if (!token || token.length < 32) throw new Error(`${DASHBOARD_TOKEN_ENV} must hold the login token (32+ characters)`);
  const { port, host, silent } = commonServerOptions(values);
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
    },
    ...(silent ? {} : { log: (line: string) => process.stderr.write(`[dashboard] ${line}\n`) }),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'dashboard',
  usage: `dashboard/main.ts --bucket <name> [--primes-function <name>] [--port ${DEFAULT_DASHBOARD_PORT}] [--host 127.0.0.1] [--silent]  (token in ${DASHBOARD_TOKEN_ENV})`,
  parse: (argv) => parseDashboardArgs(argv),
  start: async (options) => {
    const dashboard = await startDashboard(options);
    return { ready: { ready: true, url: dashboard.url, port: dashboard.port }, close: dashboard.close };
  },
  what: 'shutting down',
  graceMs: 2000,
});
