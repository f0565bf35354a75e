import type { AttemptRecord, FanoutTrace } from './trace.ts';

/**
 * A fan-out's timeline: the trace `fanout()` recorded (./trace.ts) on one clock, the coordinator's, in
 * milliseconds from the run's start — every attempt's span as the coordinator saw it (submitted → returned) and
 * as the worker saw it (started → ended, offset-corrected), the workers, and how many were busy over time. Pure:
 * ./timeline-chart.ts draws it, and it is saved as `timeline.json` beside the run's results.
 *
 * Clock offsets. A worker's clock may be off the coordinator's by any amount (another machine; on Lambda, NTP
 * keeps it within milliseconds, on a fresh instance not always). Whatever the offset θ (worker − coordinator), the
 * worker cannot have started before the coordinator submitted the attempt, nor ended after the coordinator got
 * the answer: submitted ≤ started − θ and ended − θ ≤ returned, so θ lies in [ended − returned, started − submitted].
 * Every attempt on one worker (one clock: a Lambda container, a thread, an instance) narrows that interval; we take
 * the middle of what is left, which is NTP's estimate when the request and the reply take equally long. When the
 * intervals do not meet (the clock drifted, or the worker measured longer than the round trip: rounding, a
 * worker that timed itself from before the request arrived), each attempt gets the middle of its own interval, and
 * the corrected span is clamped into [submitted, returned], so a bar never leaves its attempt's window.
 */

export const TIMELINE_VERSION = 1;

export interface TimelineAttempt {
  task: number;
  attempt: number;
  outcome: 'succeeded' | 'failed';
  error?: { kind: string; type: string };
  /** Coordinator's view, ms from the run's start. */
  submittedMs: number;
  returnedMs: number;
  /** Worker's view, corrected onto the coordinator's clock; absent when the worker told nothing. */
  startedMs?: number;
  endedMs?: number;
  /** What was subtracted from the worker's times (worker clock − coordinator clock), in ms. */
  offsetMs?: number;
  workerId?: string;
  coldStart?: boolean;
  instanceId?: string;
  launchToRunningMs?: number;
}

export interface TimelineTask {
  index: number;
  /** The trace's name for the task (trace.ts mergeTraces), when it has one. */
  label?: string;
  attempts: TimelineAttempt[];
  /** The last attempt's outcome; `not started` when the abort kept the task from running. */
  outcome: 'succeeded' | 'failed' | 'not started';
}

export interface TimelineWorker {
  id: string;
  /** Attempts it served, and the offset its clock was corrected by (the same for all when they agreed). */
  attempts: number;
  offsetMs: number;
  coldStarts: number;
}

/** A step of the concurrency curve: from `tMs` on (until the next step), `busy` workers were running a task. */
export interface ConcurrencyStep {
  tMs: number;
  busy: number;
}

export interface Timeline {
  version: typeof TIMELINE_VERSION;
  backend: string;
  /** The run's start, ISO 8601, coordinator clock: time 0 of every `*Ms` field. */
  startedAt: string;
  wallMs: number;
  tasks: TimelineTask[];
  workers: TimelineWorker[];
  concurrency: ConcurrencyStep[];
  maxBusy: number;
  attempts: number;
  coldStarts: number;
}

/** A span that may be drawn: start ≤ end. */
export interface Span {
  startMs: number;
  endMs: number;
}

type Interval = [number, number];

/** θ's possible values for one attempt (see the module comment); undefined when the worker sent no clock. */
function offsetInterval(a: AttemptRecord): Interval | undefined {
  const { startedAt, endedAt } = a.worker ?? {};
  if (startedAt === undefined || endedAt === undefined) return undefined;
  return [endedAt - a.returnedAt, startedAt - a.submittedAt];
}

const middle = ([lo, hi]: Interval): number => (lo + hi) / 2;

/**
 * The offset of each attempt's worker clock: per worker, the middle of the intersection of its attempts'
 * intervals; an attempt without a worker id, or on a worker whose intervals do not meet, the middle of its own.
 * Keys are `${task}/${attempt}`.
 */
export function estimateOffsets(trace: FanoutTrace): Map<string, number> {
  const byWorker = new Map<string, Interval>();
  for (const task of trace.tasks) {
    for (const a of task.attempts) {
      const own = offsetInterval(a);
      const id = a.worker?.workerId;
      if (!own || id === undefined) continue;
      const [lo, hi] = byWorker.get(id) ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
      byWorker.set(id, [Math.max(lo, own[0]), Math.min(hi, own[1])]);
    }
  }
  const offsets = new Map<string, number>();
  for (const task of trace.tasks) {
    for (const a of task.attempts) {
      const own = offsetInterval(a);
      if (!own) continue;
      const shared = a.worker?.workerId === undefined ? undefined : byWorker.get(a.worker.workerId);
      const usable = shared !== undefined && shared[0] <= shared[1] ? shared : own;
      offsets.set(`${task.index}/${a.attempt}`, middle(usable));
    }
  }
  return offsets;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
const round = (ms: number): number => Math.round(ms * 1000) / 1000;

function attemptOf(task: number, a: AttemptRecord, t0: number, offset: number | undefined): TimelineAttempt {
  const submittedMs = round(a.submittedAt - t0);
  const returnedMs = round(Math.max(a.returnedAt, a.submittedAt) - t0);
  const out: TimelineAttempt = { task, attempt: a.attempt, outcome: a.outcome, submittedMs, returnedMs };
  if (a.error) out.error = a.error;
  const w = a.worker ?? {};
  if (offset !== undefined && w.startedAt !== undefined && w.endedAt !== undefined) {
    out.offsetMs = round(offset);
    out.startedMs = round(clamp(w.startedAt - offset - t0, submittedMs, returnedMs));
    out.endedMs = round(clamp(w.endedAt - offset - t0, out.startedMs, returnedMs));
  }
  if (w.workerId !== undefined) out.workerId = w.workerId;
  if (w.coldStart !== undefined) out.coldStart = w.coldStart;
  if (w.instanceId !== undefined) out.instanceId = w.instanceId;
  if (w.launchToRunningMs !== undefined) out.launchToRunningMs = w.launchToRunningMs;
  return out;
}

/** The span an attempt kept a worker busy: the worker's own when it told, otherwise the coordinator's. */
export function busySpan(a: TimelineAttempt): Span {
  return a.startedMs !== undefined && a.endedMs !== undefined
    ? { startMs: a.startedMs, endMs: a.endedMs }
    : { startMs: a.submittedMs, endMs: a.returnedMs };
}

/**
 * How many spans are open over time, as steps from 0: +1 at each start, −1 at each end; an end and a start at
 * the same instant count the end first (a worker handing over to the next task is not two busy workers).
 */
export function concurrencyCurve(spans: readonly Span[], wallMs?: number): ConcurrencyStep[] {
  const events = spans
    .filter((s) => s.endMs > s.startMs)
    .flatMap((s) => [
      { t: s.startMs, d: 1 },
      { t: s.endMs, d: -1 },
    ])
    .sort((a, b) => a.t - b.t || a.d - b.d);
  const steps: ConcurrencyStep[] = [{ tMs: 0, busy: 0 }];
  let busy = 0;
  for (const { t, d } of events) {
    busy += d;
    const last = steps[steps.length - 1] as ConcurrencyStep;
    if (last.tMs === t) last.busy = busy;
    else steps.push({ tMs: t, busy });
  }
  // Drop steps that repeat the previous value (two events at one instant cancelling each other).
  const curve = steps.filter((s, i) => i === 0 || s.busy !== (steps[i - 1] as ConcurrencyStep).busy);
  const end = Math.max(wallMs ?? 0, (curve[curve.length - 1] as ConcurrencyStep).tMs);
  if (end > (curve[curve.length - 1] as ConcurrencyStep).tMs) curve.push({ tMs: end, busy });
  return curve;
}

function workersOf(attempts: readonly TimelineAttempt[]): TimelineWorker[] {
  const workers = new Map<string, TimelineWorker>();
  for (const a of attempts) {
    if (a.workerId === undefined) continue;
    const w = workers.get(a.workerId) ?? { id: a.workerId, attempts: 0, offsetMs: a.offsetMs ?? 0, coldStarts: 0 };
    w.attempts += 1;
    if (a.coldStart) w.coldStarts += 1;
    workers.set(a.workerId, w);
  }
  return [...workers.values()];
}

/** The trace on the coordinator's clock, from the run's start: see the module comment. */
export function buildTimeline(trace: FanoutTrace): Timeline {
  const t0 = trace.startedAt;
  const offsets = estimateOffsets(trace);
  const tasks: TimelineTask[] = [...trace.tasks]
    .sort((a, b) => a.index - b.index)
    .map((task) => {
      const attempts = [...task.attempts]
        .sort((a, b) => a.attempt - b.attempt)
        .map((a) => attemptOf(task.index, a, t0, offsets.get(`${task.index}/${a.attempt}`)));
      const last = attempts[attempts.length - 1];
      const outcome = last === undefined ? 'not started' : last.outcome;
      return task.label === undefined
        ? { index: task.index, attempts, outcome }
        : { index: task.index, label: task.label, attempts, outcome };
    });
  const all = tasks.flatMap((t) => t.attempts);
  const wallMs = round(Math.max(0, trace.endedAt - t0));
  const concurrency = concurrencyCurve(all.map(busySpan), wallMs);
  return {
    version: TIMELINE_VERSION,
    backend: trace.backend,
    startedAt: new Date(t0).toISOString(),
    wallMs,
    tasks,
    workers: workersOf(all),
    concurrency,
    maxBusy: Math.max(0, ...concurrency.map((s) => s.busy)),
    attempts: all.length,
    coldStarts: all.filter((a) => a.coldStart === true).length,
  };
}
