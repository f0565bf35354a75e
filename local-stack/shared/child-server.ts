import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

/** A local-stack server running as a child process, after it announced itself ready on stdout. */
export interface ChildServer<Ready> {
  /** The server's ready line, as `parseReady` accepted it. */
  ready: Ready;
  pid: number;
  /** What the server wrote to stderr so far (its log). */
  stderr(): string;
  /** Stops the server (SIGTERM) and resolves with its exit code. */
  close(): Promise<number | null>;
  /** Sends `signal` (SIGKILL: a crash) and resolves once the process is gone, its port free again. */
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs one of the local-stack servers (a `.ts` entry run through tsx, as the stack runs them) in a process of
 * its own and waits for its ready line: each server prints JSON lines on stdout, the first that `parseReady`
 * accepts means it is listening. Later lines go to `onMessage`. Benchmarks use this so the server's CPU work
 * stays off the measured process's event loop; tests use it to kill and restart a server for real.
 */
export async function spawnChildServer<Ready>(options: {
  entry: string;
  args: string[];
  /** Returns the ready information, or undefined for a line that does not announce readiness. */
  parseReady: (message: Record<string, unknown>) => Ready | undefined;
  onMessage?: (message: Record<string, unknown>) => void;
  name: string;
  /** Added to this process's environment (the local AWS servers take the credentials they accept from it). */
  env?: Record<string, string>;
}): Promise<ChildServer<Ready>> {
  const args = ['--import', createRequire(import.meta.url).resolve('tsx'), options.entry, ...options.args];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const ready = await new Promise<Ready>((resolve, reject) => {
    let isReady = false;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        return; // not one of the server's protocol lines
      }
      if (typeof message !== 'object' || message === null) return;
      const record = message as Record<string, unknown>;
      if (!isReady) {
        const announced = options.parseReady(record);
        if (announced !== undefined) {
          isReady = true;
          resolve(announced);
          return;
        }
      }
      options.onMessage?.(record);
    });
    child.once('exit', (code) =>
      reject(new Error(`${options.name} exited (code ${code}) before it was ready:\n${stderr}`)),
    );
  });

  return {
    ready,
    pid: child.pid ?? -1,
    stderr: () => stderr,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** local-stack/, where each service's entry file lives (this file is in local-stack/shared/). */
const LOCAL_STACK_DIR = new URL('..', import.meta.url).pathname;

/** The local MongoDB-wire server in a process of its own; `uri` is ready for `new MongoClient(uri)`. */
export async function spawnMongoServerProcess(
  options: { port?: number; dataFile?: string; flushDelayMs?: number } = {},
): Promise<ChildServer<{ uri: string; port: number }>> {
  return spawnChildServer({
    entry: `${LOCAL_STACK_DIR}mongo/main.ts`,
    args: [
      '--port',
      String(options.port ?? 0),
      '--silent',
      ...(options.dataFile === undefined ? [] : ['--data', options.dataFile]),
      ...(options.flushDelayMs === undefined ? [] : ['--flush-delay-ms', String(options.flushDelayMs)]),
    ],
    name: 'local MongoDB server',
    parseReady: (message) =>
      typeof message.uri === 'string' && typeof message.port === 'number'
        ? { uri: message.uri, port: message.port }
        : undefined,
  });
}

/** The Yelp/HN API fixture in a process of its own (its stats are read over HTTP: STATS_PATH in api-fixture/stats.ts). */
export async function spawnApiFixtureProcess(
  options: { port?: number; latencyMs?: number; seed?: number } = {},
): Promise<ChildServer<{ baseUrl: string; yelpBaseUrl: string; hnBaseUrl: string; apiKey: string }>> {
  return spawnChildServer({
    entry: `${LOCAL_STACK_DIR}api-fixture/main.ts`,
    args: [
      '--port',
      String(options.port ?? 0),
      '--silent',
      ...(options.latencyMs === undefined ? [] : ['--latency-ms', String(options.latencyMs)]),
      ...(options.seed === undefined ? [] : ['--seed', String(options.seed)]),
    ],
    name: 'local API fixture',
    parseReady: (message) =>
      message.ready === true &&
      typeof message.baseUrl === 'string' &&
      typeof message.yelpBaseUrl === 'string' &&
      typeof message.hnBaseUrl === 'string' &&
      typeof message.apiKey === 'string'
        ? {
            baseUrl: message.baseUrl,
            yelpBaseUrl: message.yelpBaseUrl,
            hnBaseUrl: message.hnBaseUrl,
            apiKey: message.apiKey,
          }
        : undefined,
  });
}
