/**
 * `npm run bench -- primes [--quick] [--runs=N]`: the prime counter, single-threaded, in this process.
 *
 *   1. countPrimes(0, 1e10) (1e9 with --quick) with each segment kernel, WebAssembly (the default) and JS (the
 *      reference), and `primesieve <n> --threads=1 --time` (Debian `primesieve-bin`, timed by itself), in
 *      N interleaved rounds (default 3): medians of the times and of each round's ratios;
 *   2. the seed's baseline, trial division by odd divisors up to √n, over [1e8, 1.01e8), and our sieve on
 *      the same range.
 *
 * Every count is checked against the known value; a wrong count makes the benchmark fail.
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { countPrimes } from '../lib/primes/sieve.ts';
import { loadWasmKernel } from '../lib/primes/wasm-kernel.ts';
import { formatTable } from '../cli/format.ts';
import { median } from './report.ts';

const KNOWN_COUNTS: Record<string, number> = {
  '0-1000000000': 50_847_534,
  '0-10000000000': 455_052_511,
  '100000000-101000000': 54_208,
};
const TRIAL_START = 1e8;
const TRIAL_END = 1.01e8;

/** The seed implementation the issue measures against: each odd n tested by odd divisors up to √n. */
function trialDivisionCount(start: number, end: number): number {
  let count = start <= 2 && end > 2 ? 1 : 0;
  for (let n = Math.max(3, start | 1); n < end; n += 2) {
    let prime = true;
    for (let d = 3; d * d <= n; d += 2) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

interface Timed {
  ms: number;
  count: number;
}

function timeRuns(runs: number, fn: () => number): Timed {
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    count = fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), count };
}

/** primesieve's own timing of one run, or null when it is not installed. */
function runPrimesieveOnce(n: number): Timed | null {
  const run = spawnSync('primesieve', [String(n), '--threads=1', '--time'], { encoding: 'utf8' });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
  if (run.error || run.status !== 0) throw new Error(`primesieve failed: ${run.error?.message ?? run.stderr}`);
  const seconds = /Seconds:\s*([\d.]+)/.exec(run.stdout);
  const primes = /Primes:\s*(\d+)/.exec(run.stdout);
  if (!seconds || !primes) throw new Error(`unexpected primesieve output:\n${run.stdout}`);
  return { ms: Number(seconds[1]) * 1000, count: Number(primes[1]) };
}

function timeOnce(fn: () => number): Timed {
  const t0 = performance.now();
  const count = fn();
  return { ms: performance.now() - t0, count };
}

interface Rounds {
  wasm: Timed;
  js: Timed;
  reference: Timed | null;
  /** Medians of each round's ratios: on a shared, noisy machine the three of a round see about the same load. */
  wasmRatio: number;
  jsRatio: number;
  jsOverWasm: number;
}

/** π(n) by each contender in turn, `runs` rounds, so a burst of load from elsewhere hits all of them alike. */
function interleavedRounds(n: number, runs: number): Rounds {
  const wasm: Timed[] = [];
  const js: Timed[] = [];
  const reference: Timed[] = [];
  let havePrimesieve = true;
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`  round ${i + 1}/${runs}: wasm, js${havePrimesieve ? ', primesieve' : ''} …\n`);
    wasm.push(timeOnce(() => countPrimes(0, n, { kernel: 'wasm' })));
    js.push(timeOnce(() => countPrimes(0, n, { kernel: 'js' })));
    const ref = havePrimesieve ? runPrimesieveOnce(n) : null;
    if (ref) reference.push(ref);
    else havePrimesieve = false;
  }
  const summary = (timed: Timed[]): Timed => ({ ms: median(timed.map((t) => t.ms)), count: timed.at(-1)!.count });
  const ratios = (a: Timed[], b: Timed[]): number => median(a.map((t, i) => t.ms / b[i]!.ms));
  return {
    wasm: summary(wasm),
    js: summary(js),
    reference: havePrimesieve ? summary(reference) : null,
    wasmRatio: havePrimesieve ? ratios(wasm, reference) : Number.NaN,
    jsRatio: havePrimesieve ? ratios(js, reference) : Number.NaN,
    jsOverWasm: ratios(js, wasm),
  };
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(3)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

export async function benchPrimes(args: string[]): Promise<number> {
  const quick = args.includes('--quick');
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice('--runs='.length) ?? 3);
  const n = quick ? 1e9 : 1e10;
  const nLabel = quick ? '1e9' : '1e10';

  const rows: string[][] = [];
  const wrong: string[] = [];
  const add = (workload: string, start: number, end: number, timed: Timed): void => {
    const expected = KNOWN_COUNTS[`${start}-${end}`]!;
    const ok = timed.count === expected;
    if (!ok) wrong.push(`${workload}: counted ${timed.count}, expected ${expected}`);
    rows.push([
      workload,
      formatMs(timed.ms),
      timed.count.toLocaleString('en-US'),
      ok ? 'ok' : `WRONG (expected ${expected})`,
    ]);
  };

  if (!loadWasmKernel()) wrong.push('the WebAssembly kernel did not load: run `npm run build:wasm`');
  const rounds = interleavedRounds(n, runs);
  const { wasm: ours, js: oursJs, reference } = rounds;
  add(`countPrimes(0, ${nLabel}) wasm`, 0, n, ours);
  add(`countPrimes(0, ${nLabel}) js`, 0, n, oursJs);
  if (reference) add(`primesieve ${nLabel} --threads=1`, 0, n, reference);

  process.stderr.write(`  trial division over [1e8, 1.01e8) × ${runs} …\n`);
  const trial = timeRuns(runs, () => trialDivisionCount(TRIAL_START, TRIAL_END));
  add('trial division [1e8, 1.01e8)', TRIAL_START, TRIAL_END, trial);
  // Milliseconds only: more runs steady the median.
  const oursSmall = timeRuns(Math.max(runs, 11), () => countPrimes(TRIAL_START, TRIAL_END));
  add('countPrimes [1e8, 1.01e8)', TRIAL_START, TRIAL_END, oursSmall);

  process.stdout.write(
    `\nprimes, single-threaded, median of ${runs} runs (Node ${process.version})\n` +
      formatTable(['workload', 'time', 'count', 'check'], rows),
  );
  if (reference) {
    const target = quick ? ' (the ≤ 1.5× target is for π(1e10): run without --quick)' : ' (target ≤ 1.5×)';
    process.stdout.write(
      `ours ÷ primesieve, π(${nLabel}), median of the rounds' ratios: wasm ${rounds.wasmRatio.toFixed(2)}×${target}, ` +
        `js ${rounds.jsRatio.toFixed(2)}×\n`,
    );
  } else {
    process.stdout.write(
      'primesieve not found: install it with `apt-get install primesieve-bin` to measure the ratio\n',
    );
  }
  process.stdout.write(`js ÷ wasm kernel, π(${nLabel}): ${rounds.jsOverWasm.toFixed(2)}×\n`);
  process.stdout.write(`trial division ÷ ours, [1e8, 1.01e8): ${(trial.ms / oursSmall.ms).toFixed(0)}×\n`);
  if (wrong.length > 0) {
    process.stderr.write(`\nWRONG PRIME COUNTS:\n  ${wrong.join('\n  ')}\n`);
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await benchPrimes(process.argv.slice(2));
}
