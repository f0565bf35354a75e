/**
 * One run of one peer in the rates-core comparison (bench/rates-core-peers.ts starts this file in a fresh process
 * per run, so no peer inherits another's warm caches or heap). Every peer does the same work on the same file:
 * read the CSV from disk, append cancer / population, write the result to `out`; ours also computes the exact
 * statistics, which the issue counts as part of the core. The time covers only that work, not process start or
 * module loading (each peer's import is timed apart), and is printed as one JSON line. With `warm` as the fourth
 * argument the same work runs once untimed first, and the second run is timed: what a warm Lambda container (or
 * any long-lived process) pays, with the JIT's warm-up — 100–150 ms of ours in a fresh process — already spent.
 *
 * Polars and DuckDB are devDependencies: they are loaded with a dynamic import here and nowhere else, and a
 * missing one is reported as `{ "missing": ... }` instead of failing the benchmark.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { computeRates } from '../lib/rates/csv-rates.ts';

export type NodePeer = 'core' | 'polars' | 'duckdb';

export interface PeerRun {
  /** Read + rate (+ statistics for ours) + write, in ms. */
  ms?: number;
  /**
   * CPU time of the whole process over the same span (all threads: libuv's file I/O, any Polars or DuckDB worker),
   * in ms: steadier than wall time when other work shares the two cores.
   */
  cpuMs?: number;
  /** Loading the peer's module, in ms (not part of `ms`). */
  importMs?: number;
  /** Why the peer could not run: its package is not installed. */
  missing?: string;
}

/** Input chunk size for our core: what an S3 body or a file stream of a large object delivers, give or take. */
const CORE_CHUNK_BYTES = 1024 * 1024;

/** Wall and process CPU time of `work`. */
async function timed(work: () => Promise<void> | void): Promise<{ ms: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function runCore(file: string, out: string): Promise<PeerRun> {
  return timed(async () => {
    const sink = createWriteStream(out);
    await once(sink, 'open');
    const result = await computeRates(createReadStream(file, { highWaterMark: CORE_CHUNK_BYTES }), sink, {
      numerator: 'cancer',
      denominator: 'population',
      bins: 30,
    });
    sink.end();
    await finished(sink);
    if (result.rows === 0) throw new Error('rates core: no rows');
  });
}

async function runPolars(file: string, out: string): Promise<PeerRun> {
  // Read by Polars when it loads: it must be set before the import (the parent sets it too).
  process.env.POLARS_MAX_THREADS = '1';
  const i0 = performance.now();
  let pl: typeof import('nodejs-polars').default;
  try {
    pl = (await import('nodejs-polars')).default;
  } catch (err) {
    return { missing: `nodejs-polars (devDependency): ${(err as Error).message.split('\n')[0]}` };
  }
  const importMs = performance.now() - i0;
  const times = await timed(() => {
    // fips as text, as ours and DuckDB keep it ("01001", not 1001); the rate in float64, not Polars' integer division.
    const df = pl.readCSV(file, { dtypes: { fips: pl.Utf8 } });
    df.withColumn(pl.col('cancer').cast(pl.Float64).div(pl.col('population')).alias('rate')).writeCSV(out);
  });
  return { ...times, importMs };
}

async function runDuckDb(file: string, out: string): Promise<PeerRun> {
  const i0 = performance.now();
  let duck: typeof import('@duckdb/node-api');
  try {
    duck = await import('@duckdb/node-api');
  } catch (err) {
    return { missing: `@duckdb/node-api (devDependency): ${(err as Error).message.split('\n')[0]}` };
  }
  const importMs = performance.now() - i0;
  const quote = (p: string): string => `'${p.replaceAll("'", "''")}'`;
  const times = await timed(async () => {
    const instance = await duck.DuckDBInstance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    await connection.run(
      `COPY (SELECT *, cancer / population AS rate FROM read_csv(${quote(file)})) TO ${quote(out)} (HEADER, DELIMITER ',')`,
    );
    connection.closeSync();
  });
  return { ...times, importMs };
}

const RUNNERS: Record<NodePeer, (file: string, out: string) => Promise<PeerRun>> = {
  core: runCore,
  polars: runPolars,
  duckdb: runDuckDb,
};

const [peer, file, out, mode = 'first'] = process.argv.slice(2);
const runner = RUNNERS[peer as NodePeer];
if (runner === undefined || file === undefined || out === undefined || !(mode === 'first' || mode === 'warm')) {
  throw new Error(
    `usage: rates-core-peer.ts core|polars|duckdb <in.csv> <out.csv> [first|warm], got ${process.argv.slice(2)}`,
  );
}
const warmUp = mode === 'warm' ? await runner(file, out) : undefined;
const run = warmUp?.missing === undefined ? await runner(file, out) : warmUp;
process.stdout.write(`${JSON.stringify(run)}\n`);
