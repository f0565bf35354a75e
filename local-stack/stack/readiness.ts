/**
 * Waits for the stack's processes: until a port is free before a start, until each server answers after it,
 * failing with the tail of the process's log when it exits or the time runs out.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../lib/errors.ts';
import { HOST } from './options.ts';

/** A spawned process as the waits see it: its exit code once it has exited, and its log. */
export type Starting = { exitCode: number | null; log: string; name: string };

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `isReady` until it answers true, failing with the process's log if it exits or the time runs out. */
async function waitUntilReady(
  proc: Starting,
  timeoutMs: number,
  isReady: () => Promise<boolean>,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    if (proc.exitCode !== null) {
      throw new UserError(
        'LOCAL_STACK',
        `${proc.name} exited with code ${proc.exitCode} while starting:\n${tail(proc.log)}`,
      );
    }
    if (await isReady()) return;
    if (Date.now() > deadline) {
      throw new UserError(
        'LOCAL_STACK',
        `${proc.name} did not ${what} within ${timeoutMs / 1000}s. Last log lines:\n${tail(proc.log)}`,
      );
    }
    await sleep(200, undefined, signal ? { signal } : {});
  }
}

/** For servers that do not speak HTTP (MongoDB): ready once a TCP connection is accepted. */
export function waitForPort(port: number, proc: Starting, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: HOST, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  return waitUntilReady(proc, timeoutMs, accepts, `accept connections on port ${port}`, signal);
}

export function waitForHttp(url: string, proc: Starting, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const answers = () =>
    fetch(url, { method: 'GET', signal: AbortSignal.timeout(1000) }).then(
      () => true,
      () => false, // not listening yet
    );
  return waitUntilReady(proc, timeoutMs, answers, `answer on ${url}`, signal);
}

export async function assertPortFree(port: number, what: string): Promise<void> {
  try {
    await fetch(`http://${HOST}:${port}/`, { signal: AbortSignal.timeout(1000) });
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') return;
  }
  throw new UserError(
    'LOCAL_STACK',
    `Port ${port} (${what}) is already in use by another program. Stop it, or choose another port with ` +
      `CLOUD_PARALLEL_${what.toUpperCase()}_PORT.`,
  );
}
