/**
 * The rates-parallel benchmark's model of a big file on Lambda, from the figures the benchmark measured locally
 * (bench/rates-parallel.ts): a pure function, so its arithmetic is tested (test/bench/rates-parallel-model.test.ts)
 * and every assumption is a named input the report prints.
 *
 * Split run: setup (header reads) + parse waves (each: invoke overhead + one chunk at the per-worker rate, capped
 * by one function's S3 read rate) + statistics rounds (each: round overhead + one chunk's values object read and
 * scanned) + assembly (the workers upload rates.csv's parts themselves while they parse; what each chunk held
 * back is copied server-side, UploadPartCopy `copyConcurrency` at a time) + publish (complete, chart, summary).
 * One Lambda: the whole file at the single path's measured end-to-end rate, also capped by the S3 read rate.
 */
import { DEFAULT_LAMBDA_PRICING, type LambdaPricing, lambdaCost, type TaskUsage } from '../lib/fanout/cost.ts';

/** S3 request prices (us-east-1, S3 Standard): GET-class and PUT/COPY/POST/LIST-class, USD per 1,000. */
export const S3_USD_PER_1000_GET = 0.0004;
export const S3_USD_PER_1000_PUT = 0.005;
/** Lambda's longest invocation, seconds; and the rates function's largest input (RATES_MAX_INPUT_BYTES ceiling). */
export const LAMBDA_MAX_SECONDS = 900;
export const SINGLE_MAX_INPUT_BYTES = 4 * 1024 ** 3;
const PART_BYTES = 5 * 1024 * 1024; // lib-storage part size of every streamed upload (scratch and single path)

export interface ModelInput {
  fileBytes: number;
  chunks: number;
  /** Tasks in flight at once (the coordinator's fan-out concurrency). */
  concurrency: number;
  /** Measured: one worker's CSV rate, bytes per second (chunk bytes ÷ worker ms). */
  workerBytesPerSec: number;
  /** Source-stated: what one function reads from S3, bytes per second. */
  s3ReadBytesPerSec: number;
  /** Measured: the single path's end-to-end rate, bytes per second. */
  singleBytesPerSec: number;
  /** Measured: header reads and dispatch before the first chunk starts, ms. */
  setupMs: number;
  /** Measured: per parse wave, the phase's wall minus its slowest chunk (invoke + coordination), ms. */
  waveOverheadMs: number;
  /** Measured: statistics rounds, per-round overhead (wall minus slowest task), and the values scan rate. */
  statsRounds: number;
  statsRoundOverheadMs: number;
  valuesScanBytesPerSec: number;
  /** Measured: bytes per input row (values objects hold 8 bytes per row), and output bytes per input byte. */
  bytesPerRow: number;
  outputRatio: number;
  /** Assumed: S3's server-side copy rate of one UploadPartCopy, and how many run at once (assemble.ts). */
  copyBytesPerSec: number;
  copyConcurrency: number;
  /** Derived from grants.ts: the bytes a chunk holds back for the coordinator to copy (5 MiB + half a part). */
  heldBackBytes: number;
  /** grants.ts: the parts a worker uploads. */
  partBytes: number;
  /** Measured: complete + chart + summary once the parts are in place, ms (a tiny run's concat + publish). */
  publishMs: number;
  /** The coordinating function's and the workers' memory (MB), for GB-seconds. */
  coordinatorMemoryMb: number;
  pricing?: LambdaPricing;
}

export interface ModelCost {
  lambdaUsd: number;
  gbSeconds: number;
  getRequests: number;
  putRequests: number;
  s3Usd: number;
  totalUsd: number;
}

export interface SplitPrediction {
  chunkBytes: number;
  waves: number;
  perWorkerBytesPerSec: number;
  phasesMs: { setup: number; parse: number; stats: number; concat: number; publish: number };
  wallMs: number;
  cost: ModelCost;
}

export interface SinglePrediction {
  bytesPerSec: number;
  wallMs: number;
  /** Why one function cannot do it: over RATES_MAX_INPUT_BYTES, over 900 s; empty when it can. */
  blockers: string[];
  cost: ModelCost;
}

function s3Usd(getRequests: number, putRequests: number): number {
  return (getRequests / 1000) * S3_USD_PER_1000_GET + (putRequests / 1000) * S3_USD_PER_1000_PUT;
}

/** A multipart upload of `bytes` in 5 MiB parts: create + parts + complete (one PutObject when it fits one part). */
export function uploadRequests(bytes: number): number {
  const parts = Math.ceil(bytes / PART_BYTES);
  return parts <= 1 ? 1 : parts + 2;
}

export function predictSplit(m: ModelInput): SplitPrediction {
  if (!(m.chunks >= 1 && m.concurrency >= 1)) throw new RangeError('chunks and concurrency must be at least 1');
  const chunkBytes = m.fileBytes / m.chunks;
  const rate = Math.min(m.workerBytesPerSec, m.s3ReadBytesPerSec);
  const waves = Math.ceil(m.chunks / m.concurrency);
  const parseTaskMs = (chunkBytes / rate) * 1000;
  const valuesBytes = (chunkBytes / m.bytesPerRow) * 8;
  const statsTaskMs = (valuesBytes / Math.min(m.valuesScanBytesPerSec, m.s3ReadBytesPerSec)) * 1000;
  const outBytes = chunkBytes * m.outputRatio;
  const phasesMs = {
    setup: m.setupMs,
    parse: waves * (m.waveOverheadMs + parseTaskMs),
    stats: m.statsRounds * waves * (m.statsRoundOverheadMs + statsTaskMs),
    concat:
      Math.ceil(m.chunks / m.copyConcurrency) * ((Math.min(outBytes, m.heldBackBytes) / m.copyBytesPerSec) * 1000),
    publish: m.publishMs,
  };
  const wallMs = Object.values(phasesMs).reduce((a, b) => a + b, 0);
  const tasks: TaskUsage[] = [
    ...Array.from({ length: m.chunks }, () => ({ ms: parseTaskMs, attempts: 1 })),
    ...Array.from({ length: m.chunks * m.statsRounds }, () => ({ ms: statsTaskMs, attempts: 1 })),
  ];
  const workers = lambdaCost(tasks, m.pricing);
  const coordinator = lambdaCost([{ ms: wallMs, attempts: 1 }], {
    ...(m.pricing ?? DEFAULT_LAMBDA_PRICING),
    workerMemoryMb: m.coordinatorMemoryMb,
  });
  // GETs: header, one ranged GET per chunk, one values read per chunk and round. PUTs: each chunk's parts, what it
  // held back and its values upload; the coordinator's create, one UploadPartCopy per chunk, complete; the
  // published objects.
  const getRequests = 1 + m.chunks + m.chunks * m.statsRounds;
  const workerParts = Math.max(0, Math.floor((outBytes - m.heldBackBytes) / m.partBytes));
  const putRequests = m.chunks * (workerParts + 1 + uploadRequests(valuesBytes)) + (m.chunks + 2) + PUBLISHED_OBJECTS;
  return {
    chunkBytes,
    waves,
    perWorkerBytesPerSec: rate,
    phasesMs,
    wallMs,
    cost: costOf(workers.usd + coordinator.usd, workers.gbSeconds + coordinator.gbSeconds, getRequests, putRequests),
  };
}

/** summary.json, histogram.png and .svg (rates.csv is counted with its upload). */
const PUBLISHED_OBJECTS = 3;

function costOf(lambdaUsd: number, gbSeconds: number, getRequests: number, putRequests: number): ModelCost {
  const s3 = s3Usd(getRequests, putRequests);
  return { lambdaUsd, gbSeconds, getRequests, putRequests, s3Usd: s3, totalUsd: lambdaUsd + s3 };
}

export function predictSingle(
  m: Pick<ModelInput, 'fileBytes' | 'singleBytesPerSec' | 's3ReadBytesPerSec' | 'outputRatio' | 'pricing'> & {
    memoryMb: number;
  },
): SinglePrediction {
  const bytesPerSec = Math.min(m.singleBytesPerSec, m.s3ReadBytesPerSec);
  const wallMs = (m.fileBytes / bytesPerSec) * 1000;
  const blockers: string[] = [];
  if (m.fileBytes > SINGLE_MAX_INPUT_BYTES)
    blockers.push(`input over RATES_MAX_INPUT_BYTES (${SINGLE_MAX_INPUT_BYTES / 1024 ** 3} GiB, what /tmp can spill)`);
  if (wallMs > LAMBDA_MAX_SECONDS * 1000) blockers.push(`over Lambda's ${LAMBDA_MAX_SECONDS} s limit`);
  const lambda = lambdaCost([{ ms: wallMs, attempts: 1 }], {
    ...(m.pricing ?? DEFAULT_LAMBDA_PRICING),
    workerMemoryMb: m.memoryMb,
  });
  const putRequests = uploadRequests(m.fileBytes * m.outputRatio) + PUBLISHED_OBJECTS;
  return { bytesPerSec, wallMs, blockers, cost: costOf(lambda.usd, lambda.gbSeconds, 1, putRequests) };
}
