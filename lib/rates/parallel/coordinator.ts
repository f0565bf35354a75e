/**
 * The parallel rates run, as the `rates` function (or the CLI) coordinates it (design in ARCHITECTURE.md, "a
 * parallel rates run's pieces"): read the header, cut the data into byte ranges, have the workers parse them
 * (guessing where records start), re-run the chunks whose guess verification refutes, merge the replies, run the
 * statistics rounds over the workers' values objects, and finish rates.csv: one multipart upload, opened before
 * the parse, into which the workers upload their output as parts (grants.ts, part-writer.ts); what each held back
 * is copied in server-side (assemble-plan.ts). No data byte passes through here except the header and the few
 * small outputs the assembly must stitch together (concat-plan.ts).
 *
 * What it returns is what publish.ts commits, as the single path's: the computed figures and a PendingCsv. The
 * scratch objects stay until the caller has committed (or abandoned) and calls `deleteScratch()`.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { TaskUsage } from '../../fanout/cost.ts';
import { asLoggable, logger } from '../../observability.ts';
import type { Backend } from '../../fanout/index.ts';
import type { RateOptions } from '../options.ts';
import type { AssemblyFigures, ParallelSummary } from '../outcome.ts';
import type { ComputedRates, PendingCsv } from '../publish.ts';
import type { RateStats } from '../stats.ts';
import { type CsvUpload, finishCsv, openCsvUpload } from './assemble.ts';
import { type ChunkRange, planChunks, verifyChunks } from './chunks.ts';
import { type ChunkSlots, grantParts } from './grants.ts';
import type { FileHeader } from './header.ts';
import { mergeChunks } from './merge.ts';
import type { RangeStart } from './range-parse.ts';
import { decodeChunkReply, type ChunkReply } from './reply.ts';
import { deleteScratch, scratchKeys } from './scratch.ts';
import { readSourceHeader, type SourceObject } from './source.ts';
import { answerStatsPlan, chunkValuesOf, StatsRounds } from './stats-rounds.ts';
import { type PartGrant, type ParseResult, type ParseTask, parseResultSchema, type WorkerTask } from './tasks.ts';
import { ChunkFailedError } from './chunk-failed.ts';
import { type RunAllPhase, type RunLog, runAll } from './run-all.ts';

/** How the data is cut: into `workers` equal ranges, or ranges of `chunkBytes`. */
export type SplitRequest = { workers: number } | { chunkBytes: number };

export interface ParallelRunInput {
  source: SourceObject;
  options: RateOptions;
  split: SplitRequest;
  /** `runs/rates/<run>/`: where the workers write (tasks.ts SCRATCH_PREFIX). */
  scratchPrefix: string;
  /** rates.csv's key (results/<name>/rates.csv). */
  csvKey: string;
}

export interface ParallelRunSettings {
  /** Tasks in flight at once (default 64; Lambda's default account concurrency is 1,000). */
  concurrency?: number;
  retries?: number;
  signal?: AbortSignal;
  onProgress?: (progress: ParallelProgress) => void;
  /**
   * Whether workers upload rates.csv parts themselves (default true). An EC2 instance cannot: it has no credentials,
   * and a presigned URL per part number does not fit in its user data (ec2-tasks.ts).
   */
  directParts?: boolean;
  /** The parts' size, at least 5 MiB; default grants.ts DEFAULT_PART_BYTES. */
  partBytes?: number;
}

/** What a progress line or object reports while the chunks are parsed. */
export interface ParallelProgress {
  phase: 'parse' | 'rerun' | 'stats' | 'concat';
  chunks: number;
  done: number;
  bytesDone: number;
  bytesTotal: number;
}

/** The summary's `parallel` section but its cost, which run.ts prices from `usage` on the backend it ran on. */
export interface ParallelSection extends Omit<ParallelSummary, 'cost'> {
  /** Every task over all phases (parse, re-runs, statistics rounds): time and attempts, for the cost estimate. */
  usage: TaskUsage[];
}

export interface ParallelComputed {
  computed: ComputedRates;
  csv: PendingCsv;
  parallel: ParallelSection;
  /** Every fan-out's trace in run order, and the run's span on the coordinator's clock: the run's timeline (timeline.ts). */
  timeline: RunTimelineTraces;
  /** Deletes every scratch object the run's tasks were told to write. */
  deleteScratch(): Promise<void>;
}

export interface RunTimelineTraces {
  traces: RunLog['traces'];
  /** Epoch ms: from before the header read to rates.csv ready to land, as `parallel.wallMs`. */
  startedAt: number;
  endedAt: number;
}

interface ChunkState {
  range: ChunkRange;
  result: ParseResult;
  reply: ChunkReply;
}

/** Runs every phase but the commit. Throws RatesFileError for a file at fault, ChunkFailedError for a chunk. */
export async function computeInParallel(
  s3: S3Client,
  backend: Backend<WorkerTask, unknown>,
  input: ParallelRunInput,
  settings: ParallelRunSettings = {},
): Promise<ParallelComputed> {
  const started = performance.now();
  const startedAt = Date.now();
  const { source, options } = input;
  const written = new Set<string>();
  const log: RunLog = { usage: [], traces: [] };
  const cleanup = () => deleteScratch(s3, source.bucket, [...written]);
  let upload: CsvUpload | null = null;
  try {
    const header = await readSourceHeader(s3, source, options, settings.signal);
    const ranges = planChunks({ dataStart: header.dataStart, size: source.size, ...input.split });
    const opened = await openCsvUpload(s3, source.bucket, input.csvKey);
    upload = opened;
    const slots = grantParts({
      ranges,
      headerBytes: header.outputLine.length,
      key: input.csvKey,
      uploadId: opened.uploadId,
      ...(settings.partBytes === undefined ? {} : { partBytes: settings.partBytes }),
    });
    const withoutGrant = new Set<number>(settings.directParts === false ? ranges.map((r) => r.index) : []);
    const parse = (range: ChunkRange, start: RangeStart): ParseTask => {
      const grant = withoutGrant.has(range.index) ? null : (slots[range.index] as ChunkSlots).grant;
      const task = parseTask(input, header, range, start, grant);
      written.add(task.output.csv);
      written.add(task.output.values);
      return task;
    };
    const chunks = await parsePhase(backend, ranges, parse, input, settings, log);
    const reruns = await verifyPhase(backend, chunks, parse, input, settings, log);
    const merged = mergeChunks(
      header,
      ranges,
      chunks.map((c) => c.reply),
      source.size,
    );
    const { stats, rounds } = await statsPhase(backend, chunks, merged, options.bins, source.bucket, settings, log);
    report(settings, {
      phase: 'concat',
      chunks: ranges.length,
      done: 0,
      bytesDone: source.size,
      bytesTotal: source.size,
    });
    const outputs = () =>
      chunks.map((c, i) => ({
        parts: c.result.parts,
        csv: c.result.csv,
        firstSlot: (slots[i] as ChunkSlots).firstSlot,
      }));
    let partsRounds = 0;
    const { csv, assembly } = await finishCsv(opened, outputs, settings.signal, async (indexes) => {
      for (const index of indexes) withoutGrant.add(index);
      await rerunChunks(backend, chunks, { phase: `parts rerun r${++partsRounds}`, chunks: indexes }, parse, {
        settings,
        log,
      });
    });
    const computed: ComputedRates = {
      rateColumn: merged.rateColumn,
      rows: merged.rows,
      badRows: merged.badRows,
      badRowSamples: merged.badRowSamples,
      stats,
      inputBytes: merged.inputBytes,
    };
    const parallel = section(input.split, chunks, { reruns, rounds, started, usage: log.usage, assembly });
    const timeline = { traces: log.traces, startedAt, endedAt: Date.now() };
    return { computed, csv, parallel, timeline, deleteScratch: cleanup };
  } catch (error) {
    // The run's own error is what counts; what could not be deleted, the lifecycle rule for runs/ expires in a day,
    // and an upload that could not be aborted, the bucket's AbortIncompleteMultipartUpload rule.
    const warn = (what: string) => (cleanupError: unknown) => {
      logger.warn(`could not ${what} of a failed parallel rates run`, {
        key: source.key,
        error: asLoggable(cleanupError),
      });
    };
    await Promise.all([
      cleanup().catch(warn('delete the scratch objects')),
      upload?.abort().catch(warn("abort rates.csv's multipart upload")),
    ]);
    throw error;
  }
}

function section(
  split: SplitRequest,
  chunks: readonly ChunkState[],
  run: { reruns: number; rounds: number; started: number; usage: TaskUsage[]; assembly: AssemblyFigures },
): ParallelSection {
  return {
    workers: 'workers' in split ? split.workers : chunks.length,
    chunks: chunks.length,
    reruns: run.reruns,
    statsRounds: run.rounds,
    wallMs: Math.round(performance.now() - run.started),
    chunkTimings: chunks.map((c) => ({
      index: c.range.index,
      bytes: c.reply.inputBytes,
      rows: c.reply.rows + c.reply.badRows,
      ms: Math.round(c.result.ms),
    })),
    assembly: run.assembly,
    usage: run.usage,
  };
}

function parseTask(
  input: ParallelRunInput,
  header: FileHeader,
  range: ChunkRange,
  start: RangeStart,
  parts: PartGrant | null,
): ParseTask {
  const first = start.kind === 'known' ? start.at : 'g';
  return {
    kind: 'parse',
    source: input.source,
    index: range.index,
    s: range.s,
    e: range.e,
    start,
    options: input.options,
    header: {
      columns: header.info.columns,
      numIdx: header.info.numIdx,
      denIdx: header.info.denIdx,
      rateColumn: header.info.rateColumn,
    },
    headerLine: range.index === 0 ? header.outputLine.toString('base64') : null,
    output: scratchKeys(input.scratchPrefix, range.index, first),
    parts,
  };
}

function checkParse(value: unknown): { result: ParseResult; reply: ChunkReply } {
  const result = parseResultSchema.parse(value);
  return { result, reply: decodeChunkReply(result.reply) };
}

async function parsePhase(
  backend: Backend<WorkerTask, unknown>,
  ranges: readonly ChunkRange[],
  parse: (range: ChunkRange, start: RangeStart) => ParseTask,
  input: ParallelRunInput,
  settings: ParallelRunSettings,
  log: RunLog,
): Promise<ChunkState[]> {
  const tasks = ranges.map((r) => parse(r, r.index === 0 ? { kind: 'known', at: r.s } : { kind: 'guess' }));
  let bytesDone = 0;
  const total = input.source.size;
  report(settings, { phase: 'parse', chunks: ranges.length, done: 0, bytesDone, bytesTotal: total });
  const results = await runAll(
    backend,
    tasks,
    { phase: 'parse', chunks: ranges.map((r) => r.index) },
    checkParse,
    settings,
    log,
    (event) => {
      if (event.kind !== 'succeeded') return;
      const range = ranges[event.index] as ChunkRange;
      bytesDone += range.e - range.s;
      report(settings, { phase: 'parse', chunks: ranges.length, done: event.done, bytesDone, bytesTotal: total });
    },
  );
  return results.map((r, k) => ({ range: ranges[k] as ChunkRange, ...r }));
}

/**
 * Speculative parsing's check (chunks.ts verifyChunks): re-runs, from a known start, every chunk whose guessed
 * start is not where its predecessor's last record ended, round after round until all agree. Returns the re-runs.
 */
async function verifyPhase(
  backend: Backend<WorkerTask, unknown>,
  chunks: ChunkState[],
  parse: (range: ChunkRange, start: RangeStart) => ParseTask,
  input: ParallelRunInput,
  settings: ParallelRunSettings,
  log: RunLog,
): Promise<number> {
  let reruns = 0;
  const starts = new Map<number, number>();
  // Each round settles at least the first wrong chunk for good, so there are at most as many rounds as chunks;
  // more would mean a worker that does not start where it is told to, which must not loop forever.
  for (let round = 0; ; round++) {
    const { rerun } = verifyChunks(
      chunks.map((c) => c.range),
      chunks.map((c) => c.reply),
    );
    if (rerun.length === 0) return reruns;
    if (round >= chunks.length) {
      throw new Error(`internal: chunks still unverified after ${round} rounds of re-runs (chunk ${rerun[0]?.index})`);
    }
    reruns += rerun.length;
    report(settings, {
      phase: 'rerun',
      chunks: rerun.length,
      done: 0,
      bytesDone: input.source.size,
      bytesTotal: input.source.size,
    });
    for (const { index, start } of rerun) starts.set(index, start);
    const phase = { phase: `rerun r${round + 1}`, chunks: rerun.map((r) => r.index) };
    await rerunChunks(backend, chunks, phase, parse, { settings, log, starts });
  }
}

/** Parses `phase.chunks` again from known starts (`starts`, else where their verified reply says they start). */
async function rerunChunks(
  backend: Backend<WorkerTask, unknown>,
  chunks: ChunkState[],
  phase: RunAllPhase,
  parse: (range: ChunkRange, start: RangeStart) => ParseTask,
  run: { settings: ParallelRunSettings; log: RunLog; starts?: ReadonlyMap<number, number> },
): Promise<void> {
  const indexes = phase.chunks;
  const at = (index: number) => run.starts?.get(index) ?? (chunks[index] as ChunkState).reply.start;
  const tasks = indexes.map((index) => parse((chunks[index] as ChunkState).range, { kind: 'known', at: at(index) }));
  const results = await runAll(backend, tasks, phase, checkParse, run.settings, run.log);
  indexes.forEach((index, k) => {
    const result = results[k] as (typeof results)[number];
    if (result.reply.start !== at(index)) {
      const task = tasks[k] as ParseTask;
      const message = `re-run from byte ${at(index)}, it answered for a chunk starting at ${result.reply.start}`;
      throw new ChunkFailedError(index, task, { kind: 'function', type: 'InvalidResult', message }, 1);
    }
    chunks[index] = { range: (chunks[index] as ChunkState).range, ...result };
  });
}

/** The exact statistics in rounds (stats-rounds.ts); a chunk without values answers here, without a task. */
async function statsPhase(
  backend: Backend<WorkerTask, unknown>,
  chunks: readonly ChunkState[],
  merged: { n: number; min: number; max: number },
  bins: number,
  bucket: string,
  settings: ParallelRunSettings,
  log: RunLog,
): Promise<{ stats: RateStats; rounds: number }> {
  const rounds = new StatsRounds({ n: merged.n, min: merged.min, max: merged.max, bins });
  const withValues = chunks.filter((c) => c.reply.n > 0);
  const empty = chunkValuesOf(new Float64Array(0));
  for (let plan = rounds.plan; plan !== null; plan = rounds.plan) {
    report(settings, { phase: 'stats', chunks: withValues.length, done: 0, bytesDone: 0, bytesTotal: 0 });
    const tasks: WorkerTask[] = withValues.map((c) => ({
      kind: 'stats',
      values: { bucket, key: c.result.values.key, eTag: c.result.values.eTag, count: c.reply.n },
      plan,
    }));
    // Rounds are counted from 1 in the timeline, as `statsRounds` counts them (the wire's `round` starts at 0).
    const phase = { phase: `stats r${plan.round + 1}`, chunks: withValues.map((c) => c.range.index) };
    const answers = await runAll(backend, tasks, phase, (value) => value, settings, log);
    const byChunk = new Map(withValues.map((c, k) => [c.range.index, answers[k]]));
    const all = await Promise.all(
      chunks.map((c) => (byChunk.has(c.range.index) ? byChunk.get(c.range.index) : answerStatsPlan(plan, empty))),
    );
    rounds.merge(all);
  }
  return { stats: rounds.result(), rounds: rounds.rounds };
}

function report(settings: ParallelRunSettings, progress: ParallelProgress): void {
  settings.onProgress?.(progress);
}
