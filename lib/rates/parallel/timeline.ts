/**
 * A split rates run's timeline: every fan-out the coordinator ran (the parse, the re-runs of wrong guesses, the
 * statistics rounds, the re-runs without parts), in run order, as one Gantt (lib/fanout/timeline-chart.ts) — a row
 * per task named by its phase and chunk (`parse 3`, `rerun r1 4`, `stats r2 5`, `parts rerun r1 1`), so the phases
 * show one after another — over the coordinator's span of the run, from before the header read to rates.csv ready
 * to land (the gaps between the phases are its own work: merge, assembly). Chunks are numbered from 0, as in
 * summary.json's `chunkTimings` and a CHUNK_FAILED message; rounds from 1, as `statsRounds` counts them.
 *
 * Saved beside the run's results as timeline.{json,svg,png} by publish.ts, which keeps them in its commit rules.
 */
import path from 'node:path';
import { renderTimelineChart } from '../../fanout/timeline-chart.ts';
import { buildTimeline, type Timeline } from '../../fanout/timeline.ts';
import { type FanoutTrace, mergeTraces } from '../../fanout/trace.ts';
import { formatBytes } from '../../units.ts';
import type { ParallelSummary } from '../outcome.ts';
import type { TimelineFiles } from '../publish.ts';
import type { RunTimelineTraces } from './coordinator.ts';

/** The run's fan-outs as one trace, each task labelled `<phase> <chunk>`. */
export function ratesRunTrace(run: RunTimelineTraces): FanoutTrace {
  return mergeTraces(
    run.traces.map(({ phase, chunks, trace }) => ({
      trace,
      label: (index: number) => `${phase} ${chunks[index] ?? `task ${index}`}`,
    })),
    { startedAt: run.startedAt, endedAt: Math.max(run.endedAt, run.startedAt) },
  );
}

/** What the chart's title says of the run besides what its timeline knows. */
export interface RatesTimelineFacts {
  /** The upload's key (its file name is shown) and its size in bytes. */
  key: string;
  bytes: number;
  runId: string | null;
  parallel: ParallelSummary;
}

/** Seconds with 2 decimals from 1 s on, milliseconds below. */
function duration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

const count = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/** The chart's title: file, size, chunks, workers, wall time, cost; the subtitle: what the rows hold. */
export function ratesTimelineTitle(facts: RatesTimelineFacts, timeline: Timeline): { title: string; subtitle: string } {
  const { parallel } = facts;
  const cost = parallel.cost === null ? 'no cost (local threads)' : `cost ≈ $${parallel.cost.usd.toFixed(6)}`;
  const title =
    `Rates of ${path.posix.basename(facts.key)}, ${formatBytes(facts.bytes)}: ${count(parallel.chunks, 'chunk')} ` +
    `on ${count(parallel.workers, 'worker')} (${timeline.backend}) — wall ${duration(parallel.wallMs)}, ${cost}`;
  const parts = [
    ...(facts.runId === null ? [] : [`run ${facts.runId}`]),
    `${count(parallel.reruns + parallel.assembly.rerunsWithoutParts, 're-run')}`,
    `${count(parallel.statsRounds, 'statistics round')}`,
    `${count(timeline.tasks.length, 'task')}, ${count(timeline.attempts, 'attempt')}`,
    `${count(timeline.coldStarts, 'cold start')}`,
    `at most ${timeline.maxBusy} workers busy`,
    "rows: phase and chunk; bars: the worker's own time; grey: submit to reply",
  ];
  return { title, subtitle: parts.join(' · ') };
}

/** timeline.json and its chart, as publish.ts puts them. */
export async function renderRatesTimeline(run: RunTimelineTraces, facts: RatesTimelineFacts): Promise<TimelineFiles> {
  const timeline = buildTimeline(ratesRunTrace(run));
  const chart = await renderTimelineChart({ timeline, taskNoun: 'task', ...ratesTimelineTitle(facts, timeline) });
  return { json: `${JSON.stringify(timeline)}\n`, svg: chart.svg, png: chart.png };
}
