import { z } from 'zod';
import { BACKEND_NAMES, type BackendName } from '../fanout/backends.ts';
import { fanoutCost, type FanoutCost, type LambdaPricing } from '../fanout/cost.ts';
import { fanout, type Backend, type FanoutOptions, type FanoutTrace } from '../fanout/index.ts';
import { UserError } from '../errors.ts';
import { describeIssues, parseEventInput } from '../validation.ts';
import { runIdSchema } from './run-id.ts';
import { checkRange, checkSplit, rangeFields, splitFields, splitRange } from './chunks.ts';
import type { PrimesChunkResult, PrimesTask } from './worker.ts';

export const BACKENDS = BACKEND_NAMES;
export type { BackendName };

/**
 * The fan-out's input, as `sls invoke`, the schedule and the CLI give it. Unknown fields are refused: a misspelt
 * option (`chunk: 4`) or one the fan-out does not take (`includePrimes`) must not run something else quietly.
 */
export const primesRunSchema = z
  .strictObject({
    ...rangeFields,
    ...splitFields,
    backend: z.enum(BACKENDS, { error: `backend must be one of: ${BACKENDS.join(', ')}` }).default('lambda'),
    chunksPerInstance: z
      .number({ error: 'chunksPerInstance must be a number' })
      .int('chunksPerInstance must be a whole number')
      .min(1, 'chunksPerInstance must be at least 1')
      .max(64, 'chunksPerInstance must be at most 64')
      .optional(),
    concurrency: z
      .number({ error: 'concurrency must be a number' })
      .int('concurrency must be a whole number')
      .min(1, 'concurrency must be at least 1')
      .max(1000, 'concurrency must be at most 1000')
      .optional(),
    /**
     * The run's id, when the caller chose it (the dashboard, to find the run's progress.json while it runs);
     * default a fresh one. A run given the id of an earlier run overwrites that run's files.
     */
    runId: runIdSchema.optional(),
  })
  .superRefine((input, context) => {
    checkRange(input, context);
    if (input.start <= input.end) checkSplit(input, context);
    if (input.chunksPerInstance !== undefined && input.backend !== 'ec2') {
      context.addIssue({
        code: 'custom',
        message: 'chunksPerInstance applies to backend "ec2" only',
        path: ['chunksPerInstance'],
      });
    }
  });
export type PrimesRunInput = z.infer<typeof primesRunSchema>;

export function parsePrimesRunInput(input: unknown): PrimesRunInput {
  const parsed = primesRunSchema.safeParse(input);
  if (!parsed.success) {
    throw new UserError('INVALID_INPUT', describeIssues(parsed.error));
  }
  return parsed.data;
}

/** The input of a fan-out invocation: the event itself, or the detail of an EventBridge envelope (lib/validation.ts). */
export function parsePrimesEvent(event: unknown): PrimesRunInput {
  return parseEventInput(event, parsePrimesRunInput);
}

export interface ChunkReport {
  start: number;
  end: number;
  count?: number;
  ms?: number;
  attempts: number;
  error?: { kind: string; type: string; message: string };
}

export interface PrimesRunResult {
  start: number;
  end: number;
  backend: BackendName;
  /** Exact when `complete`; otherwise the sum over the chunks that succeeded. */
  count: number;
  complete: boolean;
  chunks: ChunkReport[];
  failedChunks: ChunkReport[];
  wallMs: number;
  /** Sum of the time each worker spent sieving: what one worker alone would have needed. */
  workerMs: number;
  /** workerMs / wallMs: how many workers were busy at once, on average. */
  speedup: number;
  /** What the workers cost (null for the local backend). */
  cost: PrimesCost | null;
}

/** What the workers cost, as lib/fanout/cost.ts computes it for every backend. */
export type PrimesCost = FanoutCost;

export async function runPrimesFanout(
  input: PrimesRunInput,
  backend: Backend<PrimesTask, PrimesChunkResult>,
  options: Pick<FanoutOptions, 'onProgress' | 'retries' | 'signal'> & {
    pricing?: LambdaPricing;
    /** Gets the fan-out's trace (every attempt's span, the workers' facts) for the run's timeline. */
    onTrace?: (trace: FanoutTrace) => void;
  } = {},
): Promise<PrimesRunResult> {
  const { onTrace, ...fanoutOptions } = options;
  const chunks = splitRange(input.start, input.end, input);
  const run = await fanout(chunks, backend, {
    ...(input.concurrency === undefined ? {} : { concurrency: input.concurrency }),
    ...fanoutOptions,
  });
  onTrace?.(run.trace);
  const reports: ChunkReport[] = run.outcomes.map((outcome, i) => {
    const chunk = chunks[i]!;
    return outcome.ok
      ? { ...chunk, count: outcome.value.count, ms: outcome.value.ms, attempts: outcome.attempts }
      : { ...chunk, attempts: outcome.attempts, error: outcome.error };
  });
  const failedChunks = reports.filter((r) => r.error !== undefined);
  const workerMs = reports.reduce((sum, r) => sum + (r.ms ?? 0), 0);
  return {
    start: input.start,
    end: input.end,
    backend: input.backend,
    count: reports.reduce((sum, r) => sum + (r.count ?? 0), 0),
    complete: failedChunks.length === 0,
    chunks: reports,
    failedChunks,
    wallMs: round(run.wallMs),
    workerMs: round(workerMs),
    speedup: run.wallMs > 0 ? Math.round((workerMs / run.wallMs) * 100) / 100 : 0,
    // Every task has settled, so an EC2 backend has terminated (or tried to terminate) every instance it launched.
    cost: fanoutCost(input.backend, { tasks: reports, pricing: options.pricing, instances: backend.usage?.() }),
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
