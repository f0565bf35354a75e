/**
 * The arithmetic and the wording of `npm run bench -- cli` (bench/cli.ts), apart from the processes it times: phases
 * between time marks, their medians over runs, a time beside its target, and the facts read back from the local
 * stack's logs and S3 objects. Pure, so it is unit-tested (test/bench/cli-timing.test.ts).
 */
import { median } from './report.ts';

/** A moment of one run: what happened, and when (epoch milliseconds, as Date.now() and file mtimes give them). */
export type Mark = [label: string, atMs: number];

/** How long one step took: from the mark before it to its own. */
export interface Phase {
  label: string;
  ms: number;
}

/**
 * The steps between consecutive marks, named by the mark that ends each. A mark missing from a run (undefined) is
 * skipped, so the step after it covers both: the phases always add up to the last mark minus the first.
 */
export function phasesBetween(marks: [label: string, atMs: number | undefined][]): Phase[] {
  const present = marks.filter((mark): mark is Mark => mark[1] !== undefined);
  return present.slice(1).map(([label, at], i) => ({ label, ms: at - present[i]![1] }));
}

/** The median of each step over runs, in the order of their first appearance. */
export function medianPhases(runs: Phase[][]): Phase[] {
  const byLabel = new Map<string, number[]>();
  for (const run of runs) for (const { label, ms } of run) byLabel.set(label, [...(byLabel.get(label) ?? []), ms]);
  return [...byLabel].map(([label, values]) => ({ label, ms: median(values) }));
}

/** `0.38 s`, `12.4 s`; milliseconds under a second read better as `42 ms`. */
export function formatDuration(ms: number): string {
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(Math.abs(ms) < 10_000 ? 2 : 1)} s`;
}

/** A time against its target: `met` or how many times over it, for the table's last column. */
export function versusTarget(ms: number, targetMs: number | undefined): string {
  if (targetMs === undefined) return '';
  const target = `≤ ${formatDuration(targetMs)}`;
  return ms <= targetMs ? `${target}: met` : `${target}: ${(ms / targetMs).toFixed(1)}× over`;
}

/**
 * The time of the last "notification delivered" line at or after `notBeforeMs` in the S3 process's log
 * (local-stack/s3/process.ts writes one JSON line per delivery, after the Lambda invoke API answered 202).
 */
export function lastNotificationMs(s3Log: string, notBeforeMs: number): number | undefined {
  let last: number | undefined;
  for (const line of s3Log.split('\n')) {
    if (!line.includes('"notification delivered"')) continue;
    const { time } = JSON.parse(line) as { time?: string };
    const at = time === undefined ? Number.NaN : Date.parse(time);
    if (at >= notBeforeMs) last = at;
  }
  return last;
}

/**
 * When the job began, from its summary.json: finishedAt less the job's own total (summary.json has no start time).
 * The handler's set-up before the job (middy, parsing the event) falls into the step before it.
 */
export function jobStartMs(summary: { finishedAt?: string; timings?: { totalMs?: number } }): number | undefined {
  if (summary.finishedAt === undefined || summary.timings?.totalMs === undefined) return undefined;
  return Date.parse(summary.finishedAt) - summary.timings.totalMs;
}

/** A line of a process's output or log, with when it was first seen. */
export interface SeenLine {
  atMs: number;
  text: string;
}

/** The first time each pattern was seen in `lines`, by name; a pattern never seen is left out. */
export function firstSeen(lines: SeenLine[], patterns: Record<string, RegExp>): Record<string, number> {
  const seen: Record<string, number> = {};
  for (const { atMs, text } of lines) {
    for (const [name, pattern] of Object.entries(patterns)) {
      if (seen[name] === undefined && pattern.test(text)) seen[name] = atMs;
    }
  }
  return seen;
}
