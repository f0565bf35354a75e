import type { BackendName } from '../fanout/backend-names.ts';
import { fanoutCost, type FanoutCost, type LambdaPricing } from '../fanout/cost.ts';
import { fanout, type Backend, type FanoutOptions, type FanoutTrace } from '../fanout/index.ts';
import { splitRange } from './chunks.ts';
import type { PrimesRunInput } from './run-input.ts';
import type { PrimesChunkResult, PrimesTask } from './worker.ts';

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
