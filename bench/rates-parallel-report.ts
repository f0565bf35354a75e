/**
 * The rates-parallel benchmark's report: the measured table (wall, speedup, per-worker MB/s, phases, RSS), then the
 * model's inputs — each named as measured here, source-stated or assumed — and its prediction for 10 GB on 100
 * Lambda workers (and as deployed: 64 MiB chunks, the coordinator's default concurrency of 64) against one Lambda.
 */
import { formatTable } from '../cli/format.ts';
import type { RatesSummary } from '../lib/rates/outcome.ts';
import type { ParallelProgress } from '../lib/rates/parallel/coordinator.ts';
import { S3_PART_LIMITS } from '../lib/aws/concat-plan.ts';
import { RUNS_AT_ONCE } from '../lib/rates/parallel/assemble.ts';
import { DEFAULT_PART_BYTES } from '../lib/rates/parallel/grants.ts';
import { median } from './report.ts';
import { type ModelInput, predictSingle, predictSplit } from './rates-parallel-model.ts';

export interface JobRun {
  workers: number;
  wallMs: number;
  /** CPU seconds during the run: this process (the job and its worker threads) and the S3 server's process. */
  cpuSeconds: { job: number; s3: number };
  /** When each coordinator progress event came, ms from the run's start. */
  marks: { phase: ParallelProgress['phase']; at: number }[];
  summary: RatesSummary;
  csvBytes: number;
}

export interface RssRun {
  chunkBytes: number;
  ms: number;
  maxRssMb: number;
  baselineRssMb: number;
  outBytes: number;
}

/**
 * What one Lambda function reads from S3: 600 Mbps sustained, with a short burst to ~2.7 Gbps at the start —
 * sjakthol/aws-network-benchmark, README "Results (Lambda)", 2024-06-15, eu-west-1 and eu-north-1, 1792 MB:
 * 0.604–0.611 Gbps baseline (iperf3, one connection). The same order as the ~75 MB/s in the team notes.
 */
export const S3_READ_BYTES_PER_SEC = 600e6 / 8;
const S3_READ_SOURCE = 'sjakthol/aws-network-benchmark (Lambda 1792 MB, 2024: 0.61 Gbps sustained, 1 connection)';
const MODEL_FILE_BYTES = 10e9;
/** serverless.yml functions.rates.memorySize: the coordinator. */
const COORDINATOR_MEMORY_MB = 1769;
/** lib/rates/parallel/assemble.ts: the held-back bytes of this many chunks are copied at once. */
const COPY_CONCURRENCY = RUNS_AT_ONCE;
/**
 * One UploadPartCopy's rate inside S3: 171,394 MB copied in 385 s by 40 parallel UploadPartCopy of 100 MB parts,
 * 445 MB/s in all, ~11 MB/s each (mumrah/s3-multipart pull request #13, 2013). Old and the only figure found: the
 * report shows what the concatenation would take at other rates.
 */
export const COPY_BYTES_PER_SEC = 445e6 / 40;
const COPY_SOURCE = 'mumrah/s3-multipart PR #13 (2013): 40 parallel 100 MB UploadPartCopy, 445 MB/s in all';

/** A split run's phases, from its progress marks and chunk timings. */
export function phasesOf(run: JobRun) {
  const at = (phase: ParallelProgress['phase']) => run.marks.find((m) => m.phase === phase)?.at;
  const parseAt = at('parse') ?? 0;
  const concatAt = at('concat') ?? run.wallMs;
  const rounds = run.marks.filter((m) => m.phase === 'stats').map((m) => m.at);
  const chunks = run.summary.parallel?.chunkTimings ?? [];
  const parseWall = (rounds[0] ?? concatAt) - parseAt;
  return {
    setupMs: parseAt,
    parseWallMs: parseWall,
    waveOverheadMs: parseWall - Math.max(0, ...chunks.map((c) => c.ms)),
    roundMs: rounds.map((r, i) => (rounds[i + 1] ?? concatAt) - r),
    publishMs: run.wallMs - concatAt,
    workerBytesPerSec: median(chunks.map((c) => (c.bytes / Math.max(c.ms, 1)) * 1000)),
    coordinationMs: (run.summary.parallel?.wallMs ?? 0) - Math.max(0, ...chunks.map((c) => c.ms)),
  };
}

const med = (runs: JobRun[], f: (r: JobRun) => number) => median(runs.map(f));
const mbps = (bytesPerSec: number) => `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const usd = (v: number) => `$${v.toFixed(4)}`;

function measuredTable(fileBytes: number, runs: JobRun[], threads: number): string {
  const byWorkers = new Map<number, JobRun[]>();
  for (const run of runs) byWorkers.set(run.workers, [...(byWorkers.get(run.workers) ?? []), run]);
  const single = byWorkers.get(1);
  const singleWall = single ? med(single, (r) => r.wallMs) : Number.NaN;
  const rows = [...byWorkers].map(([workers, group]) => {
    const wall = med(group, (r) => r.wallMs);
    const split = workers > 1;
    return [
      workers === 1 ? '1 (single path)' : `${workers} (${threads} threads)`,
      `${sec(wall)} (${group.map((r) => sec(r.wallMs)).join(', ')})`,
      mbps((fileBytes / wall) * 1000),
      split ? `${(singleWall / wall).toFixed(2)}×` : '1×',
      split ? mbps(med(group, (r) => phasesOf(r).workerBytesPerSec)) : '—',
      split ? sec(med(group, (r) => phasesOf(r).coordinationMs)) : '—',
      split ? String(group[0]?.summary.parallel?.statsRounds ?? '?') : '—',
      `${med(group, (r) => r.cpuSeconds.job).toFixed(1)} + ${med(group, (r) => r.cpuSeconds.s3).toFixed(1)} s`,
      sec(med(group, (r) => ((r.cpuSeconds.job + r.cpuSeconds.s3) / 2) * 1000)),
    ];
  });
  return formatTable(
    [
      'workers',
      'wall (median; runs)',
      'job MB/s',
      'speedup',
      'per-worker MB/s',
      'coord. − slowest chunk',
      'stats rounds',
      'CPU job + S3 server',
      'CPU ÷ 2 cores',
    ],
    rows,
  );
}

/** The model's inputs from the 2-worker runs (the split closest to one Lambda per worker) and the tiny run. */
export function modelInputs(
  fileBytes: number,
  runs: JobRun[],
  tinyRun: JobRun,
): Omit<ModelInput, 'chunks' | 'concurrency' | 'fileBytes'> {
  const single = runs.filter((r) => r.workers === 1);
  const split =
    runs.filter((r) => r.workers === 2).length > 0
      ? runs.filter((r) => r.workers === 2)
      : runs.filter((r) => r.workers > 1);
  if (single.length === 0 || split.length === 0) throw new Error('the model needs runs with 1 worker and with more');
  const tiny = phasesOf(tinyRun);
  const first = split[0] as JobRun;
  const rowsTotal = first.summary.rows + first.summary.badRows.count;
  const bytesPerRow = fileBytes / rowsTotal;
  const chunkValuesBytes = (rowsTotal / (first.summary.parallel?.chunks ?? 1)) * 8;
  const bigRoundMs = med(split, (r) => median(phasesOf(r).roundMs));
  const tinyRoundMs = median(tiny.roundMs);
  const scanMs = bigRoundMs - tinyRoundMs;
  return {
    workerBytesPerSec: med(split, (r) => phasesOf(r).workerBytesPerSec),
    s3ReadBytesPerSec: S3_READ_BYTES_PER_SEC,
    singleBytesPerSec: (fileBytes / med(single, (r) => r.wallMs)) * 1000,
    setupMs: med(split, (r) => phasesOf(r).setupMs),
    waveOverheadMs: med(split, (r) => phasesOf(r).waveOverheadMs),
    statsRounds: first.summary.parallel?.statsRounds ?? 0,
    statsRoundOverheadMs: tinyRoundMs,
    valuesScanBytesPerSec: scanMs > 0 ? (chunkValuesBytes / scanMs) * 1000 : Number.POSITIVE_INFINITY,
    bytesPerRow,
    outputRatio: first.csvBytes / fileBytes,
    copyBytesPerSec: COPY_BYTES_PER_SEC,
    copyConcurrency: COPY_CONCURRENCY,
    heldBackBytes: S3_PART_LIMITS.minPart + DEFAULT_PART_BYTES / 2,
    partBytes: DEFAULT_PART_BYTES,
    publishMs: tiny.publishMs,
    coordinatorMemoryMb: COORDINATOR_MEMORY_MB,
  };
}

export function printRatesParallelReport(r: {
  fileBytes: number;
  threads: number;
  runs: JobRun[];
  tinyRun: JobRun;
  rss: RssRun[];
  /** 1-minute load averages at the start and the end of the measurements. */
  load: number[];
}): object {
  const out = (text: string) => process.stdout.write(text);
  out(
    `\nrates job on a ${(r.fileBytes / 1e6).toFixed(0)} MB county CSV through a local S3 server (its own process), ` +
      `runRatesJob in this process, workers as threads of the local fan-out backend; 2 cores\n`,
  );
  out(measuredTable(r.fileBytes, r.runs, r.threads));
  out(
    'target: ≥ 1.7× with 2 workers on this 2-core machine. "CPU ÷ 2 cores" is the wall an idle 2-core machine could ' +
      'reach at best with this much work (the job and the S3 server share the cores)\n',
  );
  printRss(r.rss);
  return printModel(r);
}

function printRss(rss: RssRun[]): void {
  if (rss.length > 0) {
    process.stdout.write(
      '\none parse task in a process of its own (bench/rates-parallel-task.ts; process.resourceUsage().maxRSS)\n',
    );
    process.stdout.write(
      formatTable(
        ['chunk', 'worker time', 'MB/s', 'peak RSS', 'RSS before the task'],
        rss.map((x) => [
          `${x.chunkBytes / 1024 ** 2} MiB`,
          sec(x.ms),
          mbps((x.chunkBytes / x.ms) * 1000),
          `${x.maxRssMb.toFixed(0)} MB`,
          `${x.baselineRssMb.toFixed(0)} MB`,
        ]),
      ),
    );
  }
}

/** The 10 GB model from the measured figures: its inputs, then the predictions as a table. */
function printModel(r: { fileBytes: number; runs: JobRun[]; tinyRun: JobRun; load: number[] }): object {
  const out = (text: string) => process.stdout.write(text);
  const inputs = modelInputs(r.fileBytes, r.runs, r.tinyRun);
  // The walls above are stretched by whatever else runs on the machine; the job's CPU seconds are not: the rate of
  // one dedicated vCPU (a 1,769 MB Lambda) is at least the bytes per CPU second of the whole job, coordinator included.
  const splitRuns = r.runs.filter((x) => x.workers === 2);
  const cpu = {
    ...inputs,
    workerBytesPerSec: r.fileBytes / med(splitRuns, (x) => x.cpuSeconds.job),
    singleBytesPerSec:
      r.fileBytes /
      med(
        r.runs.filter((x) => x.workers === 1),
        (x) => x.cpuSeconds.job,
      ),
  };
  const at = { fileBytes: MODEL_FILE_BYTES, chunks: 100, concurrency: 100 };
  // serverless.yml's ratesChunkBytes and ratesWorkerConcurrency.
  const deployedChunks = Math.ceil(MODEL_FILE_BYTES / (64 * 1024 ** 2));
  const splits: [string, ReturnType<typeof predictSplit>][] = [
    [`100 × 100 MB, wall rates, ${COPY_CONCURRENCY} copies at a time`, predictSplit({ ...inputs, ...at })],
    [`100 × 100 MB, CPU rates, ${COPY_CONCURRENCY} copies at a time`, predictSplit({ ...cpu, ...at })],
    ['  same, all 100 copies at once', predictSplit({ ...cpu, ...at, copyConcurrency: 100 })],
    [
      `as deployed: ${deployedChunks} × 64 MiB, concurrency 100, CPU rates`,
      predictSplit({ ...cpu, fileBytes: MODEL_FILE_BYTES, chunks: deployedChunks, concurrency: 100 }),
    ],
  ];
  const singleCpu = predictSingle({ ...cpu, fileBytes: MODEL_FILE_BYTES, memoryMb: COORDINATOR_MEMORY_MB });
  const single = predictSingle({ ...inputs, fileBytes: MODEL_FILE_BYTES, memoryMb: COORDINATOR_MEMORY_MB });
  out(
    `\nmodel: 10 GB on Lambda from the figures above\n` +
      `  measured: per-worker CSV rate ${mbps(inputs.workerBytesPerSec)} of wall time, ${mbps(cpu.workerBytesPerSec)} per CPU second of the split job; ` +
      `single path ${mbps(inputs.singleBytesPerSec)} end to end, ${mbps(cpu.singleBytesPerSec)} per CPU second; ` +
      `setup ${sec(inputs.setupMs)}; invoke+coordination per parse wave ${sec(inputs.waveOverheadMs)}; ` +
      `${inputs.statsRounds} stats rounds, ${sec(inputs.statsRoundOverheadMs)} fixed each, values scanned at ${mbps(inputs.valuesScanBytesPerSec)}; ` +
      `publish ${sec(inputs.publishMs)}; ${inputs.bytesPerRow.toFixed(1)} bytes/row, output ${inputs.outputRatio.toFixed(3)}× input\n` +
      `  source-stated: one function reads S3 at ${mbps(S3_READ_BYTES_PER_SEC)} — ${S3_READ_SOURCE}\n` +
      `  source-stated: one UploadPartCopy at ${mbps(inputs.copyBytesPerSec)} — ${COPY_SOURCE}; ${COPY_CONCURRENCY} at a time (lib/rates/parallel/assemble.ts), ${(inputs.heldBackBytes / 1024 ** 2).toFixed(0)} MiB held back per chunk on average (grants.ts)\n` +
      `  load average while measuring: ${r.load.map((l) => l.toFixed(1)).join(' → ')} (2 cores; other work on the machine slows every figure)\n`,
  );
  const row = (name: string, p: ReturnType<typeof predictSplit>) => [
    name,
    `${p.waves}`,
    mbps(p.perWorkerBytesPerSec),
    `${sec(p.phasesMs.setup)} / ${sec(p.phasesMs.parse)} / ${sec(p.phasesMs.stats)} / ${sec(p.phasesMs.concat)} / ${sec(p.phasesMs.publish)}`,
    sec(p.wallMs),
    usd(p.cost.lambdaUsd),
    `${usd(p.cost.s3Usd)} (${p.cost.getRequests} GET, ${p.cost.putRequests} PUT)`,
    usd(p.cost.totalUsd),
  ];
  out(
    formatTable(
      [
        '10 GB on',
        'waves',
        'per-worker',
        'setup / parse / stats / concat / publish',
        'wall',
        'Lambda',
        'S3 requests',
        'total',
      ],
      [
        ...splits.map(([name, p]) => row(name, p)),
        ...[['one Lambda, wall rate', single] as const, ['one Lambda, CPU rate', singleCpu] as const].map(
          ([name, single]) => [
            name,
            '1',
            mbps(single.bytesPerSec),
            '—',
            sec(single.wallMs),
            usd(single.cost.lambdaUsd),
            `${usd(single.cost.s3Usd)} (${single.cost.getRequests} GET, ${single.cost.putRequests} PUT)`,
            usd(single.cost.totalUsd),
          ],
        ),
      ],
    ),
  );
  out(
    `target: ≤ 15 s for 100 workers; one Lambda: ${single.blockers.length === 0 ? 'possible' : `cannot — ${single.blockers.join('; ')}`}\n`,
  );
  return { inputs, cpu, splits, single, singleCpu };
}
