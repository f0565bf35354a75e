/**
 * `npm run bench -- chart [--runs=N] [--cold=N]`: the rates function's histogram (30 bins, title, subtitle), rendered
 * as the function renders it (`renderHistogram`: vega-lite → vega SVG → resvg PNG), against the 50 ms target.
 *
 *   - cold: the first render in a fresh process (a new Lambda container), median of `--cold` processes (default 5);
 *     module loading is printed apart, as it is paid at import, before the handler runs;
 *   - warm: N renders (default 20) of a different histogram each, in this process, in turns with the generic path
 *     (`renderVegaLite(buildHistogramSpec(…))`: compile and parse the spec on every render, as before the cache), so
 *     load from elsewhere hits both alike; each pair's SVG and PNG must be identical, or the benchmark fails;
 *   - where a warm render's time goes, stage by stage.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatTable } from '../cli/format.ts';
import type { HistogramChartInput } from '../lib/rates/chart.ts';
import { median } from './report.ts';

const TARGET_MS = 50;
const BINS = 30;

/** A bell-shaped histogram of rates, different for each seed (height, centre, title), like one upload's. */
export function sampleHistogram(seed: number): HistogramChartInput {
  const lo = 0.0025 * (1 + (seed % 7) / 10);
  const hi = lo + 0.006;
  const width = (hi - lo) / BINS;
  const edges = Array.from({ length: BINS + 1 }, (_, i) => Number((lo + width * i).toFixed(7)));
  const counts = edges.slice(0, BINS).map((e) => {
    const z = (e + width / 2 - (lo + hi) / 2) / 0.0007;
    return Math.round((400 + 37 * seed) * Math.exp((-z * z) / 2));
  });
  return {
    edges,
    counts,
    title: 'Distribution of rate = cases / population',
    subtitle: `uploads/county-${seed}.csv · ${(3142 + seed).toLocaleString('en-US')} rows · ${BINS} bins`,
    xLabel: 'rate (cases per unit of population)',
    yLabel: 'rows (count)',
  };
}

function option(args: string[], name: string, fallback: number): number {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  const value = arg === undefined ? fallback : Number(arg.slice(name.length + 3));
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

interface Timing {
  wallMs: number;
  /** CPU time of this process over the same span: what the render costs, whatever else the 2 cores are running. */
  cpuMs: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<Timing & { result: T }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { result, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const medianTiming = (ts: Timing[]): Timing => ({
  wallMs: median(ts.map((t) => t.wallMs)),
  cpuMs: median(ts.map((t) => t.cpuMs)),
});

/**
 * In a fresh process: how long the imports took and the first render — with `--warm-up`, the first after the rates
 * function's container-start warm-up (chart-warmup.ts, drawn with the default options, whose labels differ from the
 * sample's: the template is not shared, so this is the conservative case).
 */
async function coldChild(warmUp: boolean): Promise<void> {
  const loading = await timed(() => import('../lib/rates/chart.ts'));
  if (warmUp) {
    const { warmUpChart } = await import('../lib/rates/chart-warmup.ts');
    const fail = (error: unknown): never => {
      throw error;
    };
    await warmUpChart({ numerator: 'cancer', denominator: 'population', bins: BINS }, fail);
  }
  const { result: _, ...render } = await timed(() => loading.result.renderHistogram(sampleHistogram(0)));
  process.stdout.write(`${JSON.stringify({ load: { wallMs: loading.wallMs, cpuMs: loading.cpuMs }, render })}\n`);
}

function coldRuns(n: number, warmUp = false): { load: Timing; render: Timing } {
  const loads: Timing[] = [];
  const renders: Timing[] = [];
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--cold-child', ...(warmUp ? ['--warm-up'] : [])];
  for (let i = 0; i < n; i++) {
    const run = spawnSync(process.execPath, args, {
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`chart bench: cold child failed (${run.status}): ${run.stderr}`);
    const { load, render } = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as Record<string, Timing>;
    loads.push(load as Timing);
    renders.push(render as Timing);
  }
  return { load: medianTiming(loads), render: medianTiming(renders) };
}

/** Warm renders in turns with the generic path; null when a pair's SVG or PNG differ. */
async function warmRuns(runs: number): Promise<{ cached: Timing; generic: Timing } | null> {
  const chart = await import('../lib/rates/chart.ts');
  for (let i = 0; i < 3; i++) await chart.renderHistogram(sampleHistogram(1000 + i)); // JIT and caches
  const cached: Timing[] = [];
  const generic: Timing[] = [];
  for (let i = 0; i < runs; i++) {
    const input = sampleHistogram(i + 1);
    const a = await timed(() => chart.renderHistogram(input));
    cached.push(a);
    const b = await timed(() => {
      chart.installChartFonts();
      return chart.renderVegaLite(chart.buildHistogramSpec(input));
    });
    generic.push(b);
    if (a.result.svg !== b.result.svg || !a.result.png.equals(b.result.png)) {
      process.stderr.write(`chart bench: render ${i} differs from the generic path's\n`);
      return null;
    }
  }
  return { cached: medianTiming(cached), generic: medianTiming(generic) };
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

export async function benchChart(args: string[]): Promise<number> {
  const runs = option(args, 'runs', 20);
  const cold = coldRuns(option(args, 'cold', 5));
  const warmedUp = coldRuns(option(args, 'cold', 5), true);
  const warm = await warmRuns(runs);
  if (warm === null) return 1;
  const { stageTimes } = await import('./chart-stages.ts');
  const { PNG_WIDTH } = await import('../lib/rates/chart.ts');
  const row = (name: string, t: Timing, vsGeneric = ''): string[] => [
    name,
    ms(t.wallMs),
    ms(t.cpuMs),
    name.includes('render') ? ratio(t.wallMs) : '',
    vsGeneric,
  ];
  const vsGeneric = `${(warm.cached.wallMs / warm.generic.wallMs).toFixed(2)}×`;
  process.stdout.write(
    `\nhistogram chart (${BINS} bins, PNG ${PNG_WIDTH} px wide), load ${loadAverage()}\n` +
      formatTable(
        ['render', 'wall (median)', 'CPU (median)', `wall ÷ ${TARGET_MS} ms target`, 'wall ÷ generic path'],
        [
          row('cold: first render in a fresh process', cold.render),
          row('cold: module loading before it', cold.load),
          row('cold: first render after the container-start warm-up', warmedUp.render),
          row(`warm: renderHistogram (${runs} renders)`, warm.cached, vsGeneric),
          row('warm: generic path, same inputs, in turns', warm.generic),
        ],
      ) +
      '\nwarm, stage by stage on the generic path (medians; renderHistogram skips compile and parse):\n' +
      formatTable(
        ['stage', 'median'],
        (await stageTimes(runs, sampleHistogram)).map(([stage, v]) => [stage, ms(v)]),
      ) +
      '\n',
  );
  return 0;
}

function ratio(v: number): string {
  return `${(v / TARGET_MS).toFixed(2)}×`;
}

function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--cold-child')) await coldChild(process.argv.includes('--warm-up'));
  else process.exitCode = await benchChart(process.argv.slice(2));
}
