/**
 * The MongoDB-compatible server of the local stack: a TCP server speaking the MongoDB wire protocol for the
 * commands the project (and the driver's and mongosh's helpers) use, so the real `mongodb` driver connects to it with
 * a plain `mongodb://127.0.0.1:PORT/db` URI. What it emulates and what it does not: README.md beside this file.
 * protocol/ is the codec, state/ the databases and the data file, commands/ one file per command group,
 * connection.ts one client's requests and replies, main.ts the CLI.
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { commandRunner } from './commands/index.ts';
import type { ServerState } from './commands/context.ts';
import { serveConnection } from './connection.ts';
import { CURSOR_IDLE_MS, DEFAULT_FLUSH_DELAY_MS, MAX_INCOMING_CONNECTIONS } from './protocol/constants.ts';
import { dataFileSaver, loadDatabases, removeStaleTempFiles, snapshotText, wantsJournal } from './state/data-file.ts';

export interface MongoServerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Persist all databases as canonical EJSON in this file: loaded at start, saved after writes and on close. */
  dataFile?: string;
  /**
   * How long after a write that did not ask for the journal the data file is saved (writes within it share one
   * save). Default 50 ms. Journaled writes (`j: true`, `w: "majority"`) are saved before they are answered.
   */
  flushDelayMs?: number;
  /** No log on stderr (errors are still logged). */
  silent?: boolean;
}

export interface RunningMongoServer {
  /** `mongodb://host:port`, ready for `new MongoClient(uri)`. */
  uri: string;
  port: number;
  /** Stops listening, closes every client connection and saves the data file. */
  close(): Promise<void>;
}

/** Starts listening; rejects if that fails (EADDRINUSE, …), and logs the server's later errors instead. */
function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // Failures to accept a connection (EMFILE, …) are the server's, not a client's: log them and keep serving.
      server.on('error', (error) => process.stderr.write(`[mongo] server error: ${error.message}\n`));
      resolve();
    });
  });
}

export async function startMongoServer(options: MongoServerOptions): Promise<RunningMongoServer> {
  const host = options.host ?? '127.0.0.1';
  const log = (message: string): void => {
    if (!options.silent) process.stderr.write(`[mongo] ${message}\n`);
  };
  const dataFile = options.dataFile === undefined ? undefined : path.resolve(options.dataFile);
  if (dataFile) {
    mkdirSync(path.dirname(dataFile), { recursive: true });
    removeStaleTempFiles(dataFile);
  }
  // Saves are debounced, one at a time, each from a snapshot taken when it starts.
  const saver = dataFileSaver(dataFile, options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS, () =>
    snapshotText(state.databases),
  );

  let nextConnectionId = 1;
  const sockets = new Set<net.Socket>();
  const state: ServerState = {
    databases: dataFile ? loadDatabases(dataFile) : new Map(),
    cursors: new Map(),
    changed: saver.changed,
    opcounters: { insert: 0, query: 0, update: 0, delete: 0, getmore: 0, command: 0 },
    process: {
      startedAt: Date.now(),
      port: options.port,
      dataFile,
      connections: () => ({ current: sockets.size, totalCreated: nextConnectionId - 1 }),
    },
  };
  const run = commandRunner(state, log);

  const cursorSweep = setInterval(() => {
    const cutoff = Date.now() - CURSOR_IDLE_MS;
    for (const [id, cursor] of state.cursors) if (cursor.lastUsed < cutoff) state.cursors.delete(id);
  }, 60_000);
  cursorSweep.unref();

  let nextReplyId = 1;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    serveConnection(socket, {
      connectionId: nextConnectionId++,
      run,
      log,
      nextReplyId: () => nextReplyId++,
      savedFor: (body) => (dataFile !== undefined && wantsJournal(body) ? saver.flush() : undefined),
    });
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server, options.port, host);
  const port = (server.address() as net.AddressInfo).port;
  state.process.port = port;
  server.maxConnections = MAX_INCOMING_CONNECTIONS;
  const uriHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  log(`listening on ${host}:${port}${dataFile ? `, data in ${dataFile}` : ''}`);

  let closed: Promise<void> | undefined;
  return {
    uri: `mongodb://${uriHost}:${port}`,
    port,
    close: () => {
      closed ??= (async () => {
        clearInterval(cursorSweep);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
        await saver.flush();
      })();
      return closed;
    },
  };
}
