/**
 * The local S3 server as a process: `node --import tsx local-stack/s3/cli.ts [options]` prints one JSON line
 * when ready and one JSON line per notification on stdout; logs go to stderr. child.ts runs it for tests and
 * benchmarks; the stack runs process.ts instead, which delivers notifications to Lambda.
 */
import { parseArgs } from 'node:util';
import { credentialsFromEnvironment } from '../shared/request-guard.ts';
import { portOption, runServerMain, writeLine } from '../shared/server-process.ts';
import { startS3Server, type NotificationRule, type S3ServerOptions } from './server.ts';

export type CliOptions = Omit<S3ServerOptions, 'onNotification'>;

function parseRules(json: string): NotificationRule[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(`--rules is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error('--rules must be a JSON array of rules');
  return parsed.map((value: unknown, index) => {
    const rule = value as Partial<Record<keyof NotificationRule, unknown>> | null;
    const isStringOrMissing = (field: unknown): boolean => field === undefined || typeof field === 'string';
    if (
      typeof rule !== 'object' ||
      rule === null ||
      typeof rule.bucket !== 'string' ||
      typeof rule.target !== 'string' ||
      !Array.isArray(rule.events) ||
      rule.events.length === 0 ||
      !rule.events.every((event) => typeof event === 'string') ||
      !isStringOrMissing(rule.prefix) ||
      !isStringOrMissing(rule.suffix) ||
      !isStringOrMissing(rule.id)
    ) {
      throw new Error(`--rules[${index}] must look like {"bucket","events":[...],"target","prefix"?,"suffix"?}`);
    }
    return rule as NotificationRule;
  });
}

export function parseCliArgs(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '4569' },
      host: { type: 'string' },
      dir: { type: 'string', default: '.local-stack/s3' },
      bucket: { type: 'string', multiple: true, default: [] },
      region: { type: 'string' },
      rules: { type: 'string' },
      'host-alias': { type: 'string', multiple: true, default: [] },
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = portOption(values.port);
  return {
    port,
    directory: values.dir,
    buckets: values.bucket,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(values.rules === undefined ? {} : { rules: parseRules(values.rules) }),
    silent: values.silent,
    credentials: credentialsFromEnvironment(),
    hostAliases: values['host-alias'].map((alias) => {
      if (!/^[a-z0-9.-]+:\d{1,5}$|^\[[0-9a-f:]+\]:\d{1,5}$/i.test(alias))
        throw new Error(`--host-alias must be host:port, got "${alias}"`);
      return alias;
    }),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 's3',
  usage:
    "s3/cli.ts [--port 4569] [--host 127.0.0.1] [--dir .local-stack/s3] [--bucket name]... [--region us-east-1] [--rules '<json array>'] [--host-alias host:port]... [--silent]  (accepts only requests signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of its environment)",
  parse: parseCliArgs,
  start: async (options) => {
    const server = await startS3Server({
      ...options,
      onNotification: (target, event) => writeLine({ notification: { target, event } }),
    });
    return {
      ready: {
        ready: true,
        endpoint: server.endpoint,
        port: server.port,
        region: options.region ?? 'us-east-1',
        buckets: options.buckets,
      },
      close: () => server.close(),
    };
  },
  what: 'shutting down',
  graceMs: 5000,
});
