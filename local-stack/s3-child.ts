import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { NotificationRule, S3EventLike } from './s3-server.ts';

const SERVER_ENTRY = path.join(path.dirname(new URL(import.meta.url).pathname), 's3-server.ts');

export interface S3ServerProcess {
  endpoint: string;
  port: number;
  pid: number;
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
}): Promise<S3ServerProcess> {
  const args = [
    '--import',
    createRequire(import.meta.url).resolve('tsx'),
    SERVER_ENTRY,
    '--port',
    String(options.port ?? 0),
    '--dir',
    options.directory,
    '--silent',
    ...options.buckets.flatMap((bucket) => ['--bucket', bucket]),
    ...(options.rules ? ['--rules', JSON.stringify(options.rules)] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const notifications: S3ServerProcess['notifications'] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const ready = await new Promise<{ endpoint: string; port: number }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let message: { ready?: boolean; endpoint?: string; port?: number; notification?: S3ServerProcess['notifications'][number] };
      try {
        message = JSON.parse(line);
      } catch {
        return; // not one of the server's protocol lines
      }
      if (message.ready && message.endpoint && message.port) resolve({ endpoint: message.endpoint, port: message.port });
      if (message.notification) notifications.push(message.notification);
    });
    child.once('exit', (code) => reject(new Error(`local S3 server exited (code ${code}) before it was ready:\n${stderr}`)));
  });

  return {
    ...ready,
    pid: child.pid ?? -1,
    notifications,
    stderr: () => stderr,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
