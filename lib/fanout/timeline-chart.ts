/**
 * A fan-out's timeline as a chart, through the project's chart chain (lib/rates/chart.ts: vega-lite → SVG → PNG
 * with the bundled font): above, a Gantt of the tasks over time from the run's start — one row per task, a bar per
 * attempt coloured by its outcome, over a thin grey bar from submit to reply (what the coordinator waited: queueing,
 * the request, a cold start's init, the reply) —, beneath, the number of workers busy over time on the same axis.
 */
import type { TopLevelSpec } from 'vega-lite';
import { CHART_WIDTH, chartConfig, installChartFonts, renderVegaLite, wrapText } from '../rates/chart.ts';
import { busySpan, type Timeline, type TimelineAttempt } from './timeline.ts';

export interface TimelineChartInput {
  timeline: Timeline;
  /** The run in words: range, chunk count, wall time, speedup, cost. Wrapped when long. */
  title: string;
  subtitle?: string;
  /** What one row is, for the axis: default `chunk`. A task with a label (trace.ts mergeTraces) is named by it. */
  taskNoun?: string;
}

export interface RenderedTimeline {
  svg: string;
  png: Buffer;
}

/** The legend's categories, in its order, with their colours (colour-blind safe: Tableau 10's blue, teal, orange, red). */
export const ATTEMPT_STATUSES = [
  ['succeeded', '#4C78A8'],
  ['succeeded on a retry', '#72B7B2'],
  ['failed, then retried', '#F58518'],
  ['failed', '#E45756'],
] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number][0];

const GREY = '#BBBBBB';
const TITLE_FONT_SIZE = 18;
const SUBTITLE_FONT_SIZE = 13;

export function attemptStatus(a: TimelineAttempt, last: boolean): AttemptStatus {
  if (a.outcome === 'succeeded') return a.attempt > 1 ? 'succeeded on a retry' : 'succeeded';
  return last ? 'failed' : 'failed, then retried';
}

/** Seconds for runs of 2 s and more, milliseconds below: tick labels stay short either way. */
export function timeUnit(wallMs: number): { divisor: number; unit: 's' | 'ms' } {
  return wallMs >= 2000 ? { divisor: 1000, unit: 's' } : { divisor: 1, unit: 'ms' };
}

interface BarRow {
  row: string;
  order: number;
  from: number;
  to: number;
  status: AttemptStatus;
  attempt: number;
  worker: string;
}

function rows(timeline: Timeline, noun: string, divisor: number): { bars: BarRow[]; waits: BarRow[] } {
  const bars: BarRow[] = [];
  const waits: BarRow[] = [];
  for (const task of timeline.tasks) {
    const row = task.label ?? `${noun} ${task.index + 1}`;
    task.attempts.forEach((a, i) => {
      const status = attemptStatus(a, i === task.attempts.length - 1);
      const worker = a.instanceId ?? a.workerId ?? '';
      const base = { row, order: task.index, status, attempt: a.attempt, worker };
      waits.push({ ...base, from: a.submittedMs / divisor, to: a.returnedMs / divisor });
      const span = busySpan(a);
      bars.push({ ...base, from: span.startMs / divisor, to: span.endMs / divisor });
    });
  }
  return { bars, waits };
}

/** The Gantt's height: 18 px a row, within 80..480 (a run of thousands of chunks gets thin rows, not a tall PNG). */
export function ganttHeight(tasks: number): number {
  return Math.min(480, Math.max(80, tasks * 18));
}

/** The time axis both panels share: from the run's start to its end, in the unit the run's length calls for. */
function timeAxis(field: 'from' | 'tMs', wallMs: number) {
  const { divisor, unit } = timeUnit(wallMs);
  return {
    field,
    type: 'quantitative' as const,
    title: `time since the run started (${unit})`,
    scale: { domain: [0, Math.max(wallMs / divisor, Number.EPSILON)], nice: false, zero: true },
    axis: { format: ',~r', tickCount: 8, grid: true, labelFlush: true },
  };
}

/** The Gantt: a grey submit-to-reply bar per attempt, under the worker's own span coloured by the attempt's outcome. */
function ganttPanel(timeline: Timeline, noun: string) {
  const { bars, waits } = rows(timeline, noun, timeUnit(timeline.wallMs).divisor);
  const y = {
    field: 'row',
    type: 'ordinal' as const,
    // By the task's index (an explicit list of names would compile to one nested expression per row: thousands overflow the stack).
    sort: { field: 'order', op: 'min' as const },
    title: noun,
    axis: { labelOverlap: true, ticks: false },
  };
  // The axis title is said once, under the curve; the Gantt keeps its tick labels.
  const x = { ...timeAxis('from', timeline.wallMs), title: null };
  const color = {
    field: 'status',
    type: 'nominal' as const,
    title: 'attempt',
    scale: { domain: ATTEMPT_STATUSES.map(([s]) => s), range: ATTEMPT_STATUSES.map(([, c]) => c) },
    legend: { orient: 'top' as const, direction: 'horizontal' as const, titleOrient: 'left' as const },
  };
  return {
    width: CHART_WIDTH,
    height: ganttHeight(timeline.tasks.length),
    layer: [
      {
        data: { values: waits },
        mark: { type: 'bar' as const, color: GREY, height: 3 },
        encoding: { y, x, x2: { field: 'to' } },
      },
      {
        data: { values: bars },
        mark: { type: 'bar' as const, height: { band: 0.7 }, stroke: 'white', strokeWidth: 0.5 },
        encoding: { y, x, x2: { field: 'to' }, color },
      },
    ],
  };
}

/** The workers busy over time, as steps. */
function busyPanel(timeline: Timeline) {
  const { divisor } = timeUnit(timeline.wallMs);
  return {
    width: CHART_WIDTH,
    height: 110,
    data: { values: timeline.concurrency.map((s) => ({ tMs: s.tMs / divisor, busy: s.busy })) },
    mark: {
      type: 'area' as const,
      interpolate: 'step-after' as const,
      color: '#4C78A8',
      opacity: 0.35,
      line: { color: '#4C78A8' },
    },
    encoding: {
      x: timeAxis('tMs', timeline.wallMs),
      y: {
        field: 'busy',
        type: 'quantitative' as const,
        title: 'workers busy',
        scale: { domain: [0, Math.max(1, timeline.maxBusy)], nice: true },
        axis: { tickMinStep: 1, format: 'd', grid: true },
      },
    },
  };
}

export function buildTimelineSpec(input: TimelineChartInput): TopLevelSpec {
  const { timeline } = input;
  const titleWidth = CHART_WIDTH + 40;
  const text = wrapText(input.title, TITLE_FONT_SIZE, true, titleWidth);
  const title =
    input.subtitle === undefined
      ? { text }
      : { text, subtitle: wrapText(input.subtitle, SUBTITLE_FONT_SIZE, false, titleWidth) };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: { left: 16, right: 28, top: 16, bottom: 12 },
    title: { ...title, anchor: 'start', offset: 14 },
    spacing: 18,
    vconcat: [ganttPanel(timeline, input.taskNoun ?? 'chunk'), busyPanel(timeline)],
    resolve: { scale: { x: 'shared' } },
    config: chartConfig(),
  } as TopLevelSpec;
}

export async function renderTimelineChart(input: TimelineChartInput): Promise<RenderedTimeline> {
  if (typeof input?.title !== 'string') throw new TypeError('renderTimelineChart: title must be a string');
  if (!Array.isArray(input.timeline?.tasks))
    throw new TypeError('renderTimelineChart: timeline must be built by buildTimeline()');
  installChartFonts(); // before the spec: the title wraps by the font's own widths
  return renderVegaLite(buildTimelineSpec(input));
}
