import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../lib/errors.ts';
import type { NotificationRule } from './s3/server.ts';

/**
 * What the local stack needs to know about the service, read from serverless.yml through the framework
 * itself (`sls print`), so variables and params resolve exactly as they do on deploy and serverless.yml
 * stays the one place where buckets and triggers are declared.
 */
export interface ServiceConfig {
  service: string;
  stage: string;
  region: string;
  /** Every bucket the service declares (provider.s3 and s3 events). */
  buckets: string[];
  /** S3 → Lambda triggers, with the deployed function name as the target. */
  notifications: NotificationRule[];
  /** Deployed function names by their key in serverless.yml (`primes-worker` → `cloud-parallel-dev-primes-worker`). */
  functions: Record<string, string>;
  /** Environment the functions get from provider.environment (used by `sls invoke local` helpers). */
  environment: Record<string, string>;
}

export const PROJECT_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export function serverlessBin(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('serverless/package.json')), 'bin', 'serverless.js');
}

interface PrintedS3Event {
  bucket: string;
  event?: string;
  rules?: { prefix?: string; suffix?: string }[];
}

interface PrintedConfig {
  service: string | { name: string };
  provider: {
    stage: string;
    region: string;
    s3?: Record<string, { name?: string }>;
    environment?: Record<string, unknown>;
  };
  functions?: Record<string, { name?: string; events?: { s3?: PrintedS3Event | string }[] }>;
}

export async function loadServiceConfig(options: { stage?: string; cwd?: string } = {}): Promise<ServiceConfig> {
  const args = [serverlessBin(), 'print', '--format', 'json'];
  if (options.stage) args.push('--stage', options.stage);
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, args, {
      cwd: options.cwd ?? PROJECT_ROOT,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    }));
  } catch (error) {
    const { stderr, stdout: out } = error as { stderr?: string; stdout?: string };
    throw new UserError(
      'CONFIG',
      `Could not read serverless.yml with \`sls print\`: ${(stderr || out || String(error)).trim()}`,
    );
  }
  return serviceConfigFromPrinted(JSON.parse(stdout) as PrintedConfig);
}

/** Pure part of {@link loadServiceConfig}, split out so it can be tested without the framework. */
export function serviceConfigFromPrinted(printed: PrintedConfig): ServiceConfig {
  const service = typeof printed.service === 'string' ? printed.service : printed.service.name;
  const { stage, region } = printed.provider;
  const bucketRefs = printed.provider.s3 ?? {};
  const bucketName = (ref: string) => bucketRefs[ref]?.name ?? ref;
  const buckets = new Set(Object.keys(bucketRefs).map(bucketName));
  const notifications: NotificationRule[] = [];
  const functions: Record<string, string> = {};
  for (const [key, fn] of Object.entries(printed.functions ?? {})) {
    const functionName = fn.name ?? `${service}-${stage}-${key}`;
    functions[key] = functionName;
    for (const event of fn.events ?? []) {
      if (event.s3 === undefined) continue;
      const s3 = typeof event.s3 === 'string' ? { bucket: event.s3 } : event.s3;
      const bucket = bucketName(s3.bucket);
      buckets.add(bucket);
      const rule: NotificationRule = {
        bucket,
        events: [s3.event ?? 's3:ObjectCreated:*'],
        target: functionName,
      };
      for (const filter of s3.rules ?? []) {
        if (filter.prefix !== undefined) rule.prefix = filter.prefix;
        if (filter.suffix !== undefined) rule.suffix = filter.suffix;
      }
      notifications.push(rule);
    }
  }
  const environment = Object.fromEntries(
    Object.entries(printed.provider.environment ?? {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
  return { service, stage, region, buckets: [...buckets], notifications, functions, environment };
}
