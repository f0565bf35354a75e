import { realpathSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import { announcedHosts } from './request-guard.ts';
import { fileURLToPath } from 'node:url';

/**
 * What every local-stack server does when it runs as its own process: start only when it is the entry
 * point, and on SIGTERM/SIGINT close cleanly (its `close` ends what it owns) within a grace period.
 */

/** True when the module at `moduleUrl` is the script node was started with (not imported by a test). */
export function isMainModule(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** Runs `main` when `moduleUrl` is the entry point; a start-up failure is printed and exits 1. */
function runIfMain(moduleUrl: string, name: string, main: () => Promise<void>): void {
  if (!isMainModule(moduleUrl)) return;
  main().catch((error: unknown) => {
    process.stderr.write(`[${name}] failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  });
}

/** Closes the server on SIGTERM/SIGINT, exiting 0 (1 if closing failed); exits anyway after `graceMs`. */
export function closeOnSignals(options: {
  name: string;
  what: string;
  silent?: boolean;
  graceMs: number;
  close: () => Promise<void>;
}): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    if (!options.silent) process.stderr.write(`[${options.name}] ${signal}: ${options.what}\n`);
    setTimeout(() => process.exit(0), options.graceMs).unref();
    options.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** One JSON line on stdout: how a server process talks to whoever started it (ready, notifications). */
export function writeLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * The whole `main` of a local-stack server CLI, run only when `moduleUrl` is the entry point: parse the
 * arguments (a bad one prints its message and `usage`, exit 2), start, announce `ready` as one JSON line on
 * stdout, and close on SIGTERM/SIGINT. When the reader of stdout goes away there is nobody left to report to,
 * so the process exits 0.
 */
export function runServerMain<O extends { silent?: boolean }>(spec: {
  moduleUrl: string;
  name: string;
  usage: string;
  parse: (argv: string[]) => O;
  start: (options: O) => Promise<{ ready: Record<string, unknown>; close: () => Promise<void> }>;
  /** What closing does, for the log line on a signal. */
  what: string;
  graceMs: number;
}): void {
  runIfMain(spec.moduleUrl, spec.name, async () => {
    let options: O;
    try {
      options = spec.parse(process.argv.slice(2));
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\nusage: ${spec.usage}\n`);
      process.exit(2);
    }
    process.stdout.on('error', () => process.exit(0));
    const server = await spec.start(options);
    writeLine(server.ready);
    closeOnSignals({
      name: spec.name,
      what: spec.what,
      silent: options.silent,
      graceMs: spec.graceMs,
      close: server.close,
    });
  });
}

/** A server CLI's `--port` (0 picks a free one); throws a message naming the flag. */
export function portOption(raw: string | undefined): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got "${raw}"`);
  return port;
}

/** An optional whole-number flag of a server CLI, at least `min`. */
export function integerOption(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  return value;
}

/** A TCP port nothing listens on right now, chosen by the kernel (for a server only the stack itself talks to). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts `server` listening and returns its port and endpoint. `allowedHosts`, which the server's request handler
 * checks (request-guard.ts), is filled with the names it answers to once the port is known (port 0 picks one); no
 * request is handled before that.
 */
export async function listenOnLoopback(
  server: http.Server | net.Server,
  port: number,
  host: string,
  allowedHosts: Set<string>,
): Promise<{ port: number; endpoint: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as net.AddressInfo).port;
  for (const name of announcedHosts(host, bound)) allowedHosts.add(name);
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return { port: bound, endpoint: `http://${urlHost}:${bound}` };
}
