/**
 * The prime count's metrics and summary log lines (the table in lib/observability.ts says what each metric means):
 * the fan-out's (dimensions `job=primes`, `backend`) and one worker chunk's (`job=primes-worker`).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { jobMetrics, logger, MAX_LISTED_FAILURES, metrics } from '../observability.ts';
import type { PrimesRunResult } from './fanout-job.ts';
import type { PrimesChunkResult } from './worker.ts';

const add = jobMetrics({
  PrimesCounted: MetricUnit.Count,
  ChunksFailed: MetricUnit.Count,
  PrimesWallMs: MetricUnit.Milliseconds,
  PrimesSpeedup: MetricUnit.NoUnit,
  ChunkMs: MetricUnit.Milliseconds,
});

/** A prime count's fan-out: the count, failed chunks, wall time and speedup, per backend. */
export function recordPrimes(result: PrimesRunResult & { ec2?: { runId: string } }): void {
  metrics.addDimensions({ job: 'primes', backend: result.backend });
  add('PrimesCounted', result.count);
  add('ChunksFailed', result.failedChunks.length);
  add('PrimesWallMs', result.wallMs);
  add('PrimesSpeedup', result.speedup);
  logger.info('primes run finished', {
    start: result.start,
    end: result.end,
    backend: result.backend,
    chunks: result.chunks.length,
    count: result.count,
    complete: result.complete,
    failedChunks: result.failedChunks.length,
    wallMs: result.wallMs,
    workerMs: result.workerMs,
    speedup: result.speedup,
    costUsd: result.cost?.usd ?? null,
    ...(result.ec2 === undefined ? {} : { ec2RunId: result.ec2.runId }),
  });
  if (result.failedChunks.length > 0) {
    logger.warn('primes chunks failed', {
      failedChunks: result.failedChunks
        .slice(0, MAX_LISTED_FAILURES)
        .map(({ start, end, attempts, error }) => ({ start, end, attempts, error })),
    });
  }
}

/** One worker's chunk: its sieve time. */
export function recordPrimesChunk(result: PrimesChunkResult): void {
  metrics.addDimension('job', 'primes-worker');
  add('ChunkMs', result.ms);
  logger.info('primes chunk finished', {
    start: result.start,
    end: result.end,
    count: result.count,
    ms: result.ms,
    // The list itself is never logged: where it went is enough.
    primes: result.primesObject !== undefined ? 'stored' : result.primes !== undefined ? 'inline' : 'none',
  });
}
