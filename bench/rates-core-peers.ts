/**
 * The rates core against its peers on the same file in the same run (issue 16: ≤ 1.0× Polars single-threaded):
 * one generated county CSV in the git-ignored .bench-data/, read + rate + write by our core (plus its exact
 * statistics), Polars (POLARS_MAX_THREADS=1), DuckDB (threads=1) and pandas when Python has it. Each run is a fresh
 * process (bench/rates-core-peer.ts, or python3 for pandas); the peers take turns in every round, in a rotated
 * order, so load from elsewhere on the shared cores hits them alike. Printed: medians, and ratios to Polars both as
 * the ratio of medians and as the median of each round's ratio — twice: the first run in a fresh process (a cold
 * Lambda container: our JIT warm-up included), and the second run in one process (a warm container). pandas has
 * no warm table (each run is a python process of its own).
 */
import { execFile } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { formatTable } from '../cli/format.ts';
import { sampleCountyCsvChunks } from '../lib/rates/sample-data.ts';
import { PROJECT_ROOT } from '../local-stack/service-config.ts';
import type { NodePeer, PeerRun } from './rates-core-peer.ts';
import { hasPandas, PANDAS_PYTHON, PANDAS_SCRIPT } from './rates.ts';
import { median } from './report.ts';
import { benchShortestNumber, ratesOfCountyFile } from './shortest-number.ts';

type Peer = NodePeer | 'pandas';
/** Which run of a process is timed (bench/rates-core-peer.ts). */
type Mode = 'first' | 'warm';
const MODE_TITLES: Record<Mode, string> = {
  first: 'each run the first in a fresh process (a cold container)',
  warm: 'each run the second in its process (a warm container)',
};

const DATA_DIR = path.join(PROJECT_ROOT, '.bench-data', 'rates-core');
const PEER_SCRIPT = path.join(PROJECT_ROOT, 'bench', 'rates-core-peer.ts');
const LABELS: Record<Peer, string> = {
  core: 'ours: parse + rate + exact stats + write',
  polars: 'Polars 1 thread: read_csv + rate + write_csv',
  duckdb: 'DuckDB 1 thread: COPY (SELECT *, rate) TO',
  pandas: 'pandas: read_csv + rate + to_csv',
};

export interface PeerOptions {
  rows: number;
  runs: number;
  keep: boolean;
}

async function ensureSample(rows: number, file: string): Promise<void> {
  if (existsSync(file)) return;
  await pipeline(Readable.from(sampleCountyCsvChunks({ rows, seed: 42 })), createWriteStream(file));
}

async function runPeer(peer: Peer, file: string, out: string, mode: Mode): Promise<PeerRun> {
  rmSync(out, { force: true });
  if (peer === 'pandas') {
    const { stdout } = await promisify(execFile)(PANDAS_PYTHON, ['-c', PANDAS_SCRIPT, file, out]);
    return { ms: Number(stdout.trim()) };
  }
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', PEER_SCRIPT, peer, file, out, mode],
    {
      cwd: PROJECT_ROOT,
      // Polars reads it when its module loads; the child sets it as well, this makes sure it is there first.
      env: { ...process.env, POLARS_MAX_THREADS: '1' },
    },
  );
  const run = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as PeerRun;
  if (run.missing === undefined && (run.ms === undefined || !existsSync(out) || statSync(out).size === 0))
    throw new Error(`rates-core peer ${peer} wrote no output: ${stdout}`);
  return run;
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Runs the comparison in both modes and prints them; returns the first mode's median per-round ratio ours ÷ Polars. */
export async function benchRatesCorePeers({ rows, runs, keep }: PeerOptions): Promise<number> {
  mkdirSync(DATA_DIR, { recursive: true });
  const file = path.join(DATA_DIR, `counties-${rows}.csv`);
  try {
    await ensureSample(rows, file);
    const ratio = await compare(rows, runs, file, 'first');
    await compare(rows, runs, file, 'warm');
    benchShortestNumber(ratesOfCountyFile(file), runs);
    return ratio;
  } finally {
    if (!keep) rmSync(DATA_DIR, { recursive: true, force: true });
  }
}

async function compare(rows: number, runs: number, file: string, mode: Mode): Promise<number> {
  const withPandas = mode === 'first' && hasPandas();
  let peers: Peer[] = ['core', 'polars', 'duckdb', ...(withPandas ? (['pandas'] as const) : [])];
  const times = new Map<Peer, number[]>(peers.map((p) => [p, []]));
  const cpu = new Map<Peer, number[]>(peers.map((p) => [p, []]));
  const outBytes = new Map<Peer, number>();
  const missing: string[] = [];
  const loadBefore = load();
  for (let round = 0; round < runs; round++) {
    // Rotate the order so no peer always runs first (after the previous one's output hit the page cache).
    const order = peers.map((_, i) => peers[(i + round) % peers.length] as Peer);
    for (const peer of order) {
      const out = path.join(DATA_DIR, `out-${peer}.csv`);
      const run = await runPeer(peer, file, out, mode);
      if (run.missing !== undefined) {
        missing.push(run.missing);
        peers = peers.filter((p) => p !== peer);
        times.delete(peer);
        cpu.delete(peer);
        continue;
      }
      times.get(peer)?.push(run.ms as number);
      if (run.cpuMs !== undefined) cpu.get(peer)?.push(run.cpuMs);
      outBytes.set(peer, statSync(out).size);
      rmSync(out, { force: true });
    }
    process.stderr.write(
      `  ${mode} run, round ${round + 1}/${runs}: ${[...times].map(([p, t]) => `${p} ${Math.round(t.at(-1) ?? NaN)} ms`).join(', ')}\n`,
    );
  }
  return report({ rows, runs, file, mode, times, cpu, outBytes, missing, loads: [loadBefore, load()] });
}

interface Measured {
  rows: number;
  runs: number;
  file: string;
  mode: Mode;
  times: Map<Peer, number[]>;
  /** Process CPU time of each run, where the peer reports it (not pandas). */
  cpu: Map<Peer, number[]>;
  outBytes: Map<Peer, number>;
  missing: string[];
  loads: [string, string];
}

function report({ rows, runs, file, mode, times, cpu, outBytes, missing, loads }: Measured): number {
  const polars = times.get('polars');
  const polarsMedian = polars === undefined ? NaN : median(polars);
  const roundRatio = (t: number[]): number =>
    polars === undefined ? NaN : median(t.map((ms, i) => ms / (polars[i] as number)));
  const polarsCpu = median(cpu.get('polars') ?? [NaN]);
  const cpuCells = (peer: Peer): string[] => {
    const c = cpu.get(peer) ?? [];
    if (c.length === 0) return ['n/a', 'n/a'];
    return [`${Math.round(median(c))} ms`, Number.isNaN(polarsCpu) ? 'n/a' : `${(median(c) / polarsCpu).toFixed(2)}×`];
  };
  const table = [...times].map(([peer, t]) => [
    LABELS[peer],
    `${Math.round(median(t))} ms`,
    `${Math.round(Math.min(...t))}–${Math.round(Math.max(...t))} ms`,
    `${((outBytes.get(peer) ?? 0) / 1e6).toFixed(1)} MB`,
    Number.isNaN(polarsMedian) ? 'n/a' : `${(median(t) / polarsMedian).toFixed(2)}×`,
    Number.isNaN(polarsMedian) ? 'n/a' : `${roundRatio(t).toFixed(2)}×`,
    ...cpuCells(peer),
  ]);
  process.stdout.write(
    `\nrates core against its peers: ${rows.toLocaleString('en-US')} rows, ${(statSync(file).size / 1e6).toFixed(1)} MB ` +
      `CSV, ${MODE_TITLES[mode]}, median of ${runs} rounds; load average ${loads[0]} before, ${loads[1]} after\n` +
      formatTable(
        [
          'peer',
          'wall',
          'range',
          'output',
          '÷ Polars',
          '÷ Polars (median of rounds)',
          'CPU (all threads)',
          'CPU ÷ Polars',
        ],
        table,
      ),
  );
  for (const m of new Set(missing)) process.stdout.write(`peer skipped, not installed: ${m}\n`);
  if (mode === 'first' && !hasPandas()) process.stdout.write('pandas skipped: /usr/bin/python3 cannot import pandas\n');
  const core = times.get('core');
  return core === undefined ? NaN : roundRatio(core);
}
