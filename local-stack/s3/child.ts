import path from 'node:path';
import { spawnChildServer } from '../shared/child-server.ts';
import { generateCredentials } from '../shared/credentials.ts';
import type { Credentials } from '../shared/sigv4.ts';
import type { NotificationRule, S3EventLike } from './server.ts';

const SERVER_ENTRY = path.join(path.dirname(new URL(import.meta.url).pathname), 'cli.ts');

export interface S3ServerProcess {
  endpoint: string;
  port: number;
  pid: number;
  /** The only credentials the server accepts: sign every request with them. */
  credentials: Credentials;
  /** Notifications the server emitted, in order (the CLI mode prints them instead of invoking Lambda). */
  notifications: { target: string; event: S3EventLike }[];
  /** What the server wrote to stderr so far (its log). */
  stderr(): string;
  /** Stops the server (SIGTERM) and resolves with its exit code. */
  close(): Promise<number | null>;
}

/** Runs the local S3 server as a child process, as the stack does. Used by the benchmarks and tests. */
export async function spawnS3ServerProcess(options: {
  directory: string;
  buckets: string[];
  port?: number;
  rules?: NotificationRule[];
  /** Default: fresh random ones, as a stack makes. */
  credentials?: Credentials;
  /** `host:port` names of proxies in front of it (S3ServerOptions.hostAliases). */
  hostAliases?: string[];
}): Promise<S3ServerProcess> {
  const credentials = options.credentials ?? generateCredentials();
  const args = [
    '--port',
    String(options.port ?? 0),
    '--dir',
    options.directory,
    '--silent',
    ...options.buckets.flatMap((bucket) => ['--bucket', bucket]),
    ...(options.rules ? ['--rules', JSON.stringify(options.rules)] : []),
    ...(options.hostAliases ?? []).flatMap((alias) => ['--host-alias', alias]),
  ];
  const notifications: S3ServerProcess['notifications'] = [];
  const server = await spawnChildServer({
    entry: SERVER_ENTRY,
    args,
    name: 'local S3 server',
    env: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
    parseReady: (message) =>
      message.ready === true && typeof message.endpoint === 'string' && typeof message.port === 'number'
        ? { endpoint: message.endpoint, port: message.port }
        : undefined,
    onMessage: (message) => {
      if (message.notification) notifications.push(message.notification as S3ServerProcess['notifications'][number]);
    },
  });

  return { ...server.ready, pid: server.pid, credentials, notifications, stderr: server.stderr, close: server.close };
}
