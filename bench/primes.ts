/**
 * `npm run bench -- primes [--quick] [--runs=N]`: the prime counter, single-threaded, in this process.
 *
 *   1. countPrimes(0, 1e10) (1e9 with --quick) with each segment kernel, WebAssembly (the default) and JS (the
 *      reference), median of N runs (default 3);
 *   2. the reference, `primesieve <n> --threads=1 --time` (Debian `primesieve-bin`), timed by itself;
 *   3. the seed's baseline, trial division by odd divisors up to √n, over [1e8, 1.01e8), and our sieve on
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

/** primesieve's own timing of the sieve, or null when it is not installed. */
function runPrimesieve(n: number, runs: number): Timed | null {
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < runs; i++) {
    const run = spawnSync('primesieve', [String(n), '--threads=1', '--time'], { encoding: 'utf8' });
    if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (run.error || run.status !== 0) throw new Error(`primesieve failed: ${run.error?.message ?? run.stderr}`);
    const seconds = /Seconds:\s*([\d.]+)/.exec(run.stdout);
    const primes = /Primes:\s*(\d+)/.exec(run.stdout);
    if (!seconds || !primes) throw new Error(`unexpected primesieve output:\n${run.stdout}`);
    times.push(Number(seconds[1]) * 1000);
    count = Number(primes[1]);
  }
  return { ms: median(times), count };
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
  process.stderr.write(`  countPrimes(0, ${nLabel}), WebAssembly kernel × ${runs} …\n`);
  const ours = timeRuns(runs, () => countPrimes(0, n, { kernel: 'wasm' }));
  add(`countPrimes(0, ${nLabel}) wasm`, 0, n, ours);
  process.stderr.write(`  countPrimes(0, ${nLabel}), JS kernel × ${runs} …\n`);
  const oursJs = timeRuns(runs, () => countPrimes(0, n, { kernel: 'js' }));
  add(`countPrimes(0, ${nLabel}) js`, 0, n, oursJs);

  process.stderr.write(`  primesieve ${nLabel} --threads=1 × ${runs} …\n`);
  const reference = runPrimesieve(n, runs);
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
      `ours ÷ primesieve, π(${nLabel}): wasm ${(ours.ms / reference.ms).toFixed(2)}×${target}, ` +
        `js ${(oursJs.ms / reference.ms).toFixed(2)}×\n`,
    );
  } else {
    process.stdout.write(
      'primesieve not found: install it with `apt-get install primesieve-bin` to measure the ratio\n',
    );
  }
  process.stdout.write(`js ÷ wasm kernel, π(${nLabel}): ${(oursJs.ms / ours.ms).toFixed(2)}×\n`);
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
