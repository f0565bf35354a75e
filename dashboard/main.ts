/**
 * The dashboard as a process: `node --import tsx dashboard/main.ts --bucket <data bucket> [--port 4580]` with the
 * token in CLOUD_PARALLEL_DASHBOARD_TOKEN (the environment, not the command line: `ps` shows arguments to every
 * user). S3 is reached with the SDK's usual chain (the stack passes its endpoint and credentials), as the CLI does.
 * Prints one JSON line when ready.
 */
import { createS3Client } from '../lib/aws/s3.ts';
import { commonServerOptions, parseServerArgs } from '../local-stack/shared/server-args.ts';
import { runServerMain } from '../local-stack/shared/server-process.ts';
import { type DashboardOptions, startDashboard } from './server.ts';
import { DASHBOARD_TOKEN_ENV, DEFAULT_DASHBOARD_PORT } from './settings.ts';

export function parseDashboardArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DashboardOptions {
  const values = parseServerArgs(argv, DEFAULT_DASHBOARD_PORT, ['bucket']);
  if (!values.bucket) throw new Error('--bucket must name the data bucket the rates uploads go to');
  const token = env[DASHBOARD_TOKEN_ENV];
  if (!token || token.length < 32) throw new Error(`${DASHBOARD_TOKEN_ENV} must hold the login token (32+ characters)`);
  const { port, host, silent } = commonServerOptions(values);
  return {
    port,
    host: host ?? '127.0.0.1',
    token,
    silent,
    services: { s3: createS3Client(env), bucket: values.bucket },
    ...(silent ? {} : { log: (line: string) => process.stderr.write(`[dashboard] ${line}\n`) }),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'dashboard',
  usage: `dashboard/main.ts --bucket <name> [--port ${DEFAULT_DASHBOARD_PORT}] [--host 127.0.0.1] [--silent]  (token in ${DASHBOARD_TOKEN_ENV})`,
  parse: (argv) => parseDashboardArgs(argv),
  start: async (options) => {
    const dashboard = await startDashboard(options);
    return { ready: { ready: true, url: dashboard.url, port: dashboard.port }, close: dashboard.close };
  },
  what: 'shutting down',
  graceMs: 2000,
});
