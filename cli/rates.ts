import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { submitRatesRun, waitForRatesOutcome } from '../lib/rates/client.ts';
import type { RatesJobOutcome, RatesSummary } from '../lib/rates/index.ts';
import { isGzipFileName } from '../lib/rates/gzip-input.ts';
import type { RatesSplit } from '../lib/rates/split.ts';
import type { AssemblyFigures } from '../lib/rates/outcome.ts';
import { formatBytes, formatMiB } from '../lib/units.ts';
import { assertStackAlive, type StackState } from '../local-stack/stack.ts';
import type { RatesRequest } from './args/rates.ts';
import { downloadRatesOutputs } from './download.ts';
import { awaitCleanly, interruptSignal } from './interrupt.ts';
import { plural, splitNote } from './rates-lines.ts';
import { followProgress } from './rates-progress.ts';
import { dataBucket, progress, withStack } from './shared.ts';

export async function ratesCommand({
  file,
  options,
  backend,
  split,
  outDir,
  timeoutMs,
  json,
}: RatesRequest): Promise<number> {
  const settings = { outDir, timeoutMs, quiet: json };
  // A warning, not a progress line: it shows with --json too (on stderr, which the JSON does not use).
  const warning = split?.chunkBytes === undefined ? undefined : smallChunkWarning(split.chunkBytes);
  if (warning !== undefined) process.stderr.write(`cloud-parallel: warning: ${warning}\n`);
  const gzipNote = gzipSplitWarning(file, split);
  if (gzipNote !== undefined) process.stderr.write(`cloud-parallel: warning: ${gzipNote}\n`);
  const outcome = await withStack(async (state, s3) => {
    if (backend !== 'ec2') return runAndCollect(state, s3, file, options, settings, split);
    const ec2 = await import('./rates-ec2.ts');
    return split === undefined || split.workers === 1
      ? ec2.runOnEc2AndCollect(state, s3, file, options, settings)
      : ec2.runSplitOnEc2AndCollect(state, s3, file, options, settings, split);
  }, json);
  if (outcome.status === 'error') {
    if (json) process.stdout.write(`${JSON.stringify({ error: outcome.error })}\n`);
    else
      process.stderr.write(`cloud-parallel: ${outcome.input.key}: ${outcome.error.code}: ${outcome.error.message}\n`);
    return 1;
  }
  process.stdout.write(json ? `${JSON.stringify(outcome, null, 2)}\n` : formatSummary(outcome));
  return 0;
}

export async function runAndCollect(
  state: StackState,
  s3: S3Client,
  file: string,
  options: { bins?: number; numerator?: string; denominator?: string },
  settings: { outDir?: string | undefined; timeoutMs: number; quiet: boolean },
  split?: RatesSplit,
): Promise<RatesJobOutcome> {
  const say = settings.quiet ? () => undefined : progress;
  const bucket = dataBucket(state);
  const run = await awaitCleanly(
    `aborting the upload of ${file}`,
    submitRatesRun(s3, { bucket, file, options, ...(split === undefined ? {} : { split }) }, interruptSignal),
  );
  say(
    `uploaded ${file} to s3://${bucket}/${run.key}; waiting for the rates function${isGzipFileName(file) ? '' : splitNote(split)}`,
  );
  let lastReport = 0;
  const follower = settings.quiet ? null : followProgress(s3, bucket, run.runId, say);
  let outcome: RatesJobOutcome;
  try {
    outcome = await waitForRatesOutcome(s3, run, {
      timeoutMs: settings.timeoutMs,
      onWait: (elapsed) => {
        interruptSignal.throwIfAborted();
        assertStackAlive(state);
        if (elapsed - lastReport >= 5000) {
          lastReport = elapsed;
          if (!follower?.printedWithin(5000)) say(`still running (${Math.round(elapsed / 1000)}s)`);
        }
      },
    });
  } finally {
    follower?.stop();
  }
  await downloadRatesOutputs(s3, bucket, run.resultPrefix, outcome, settings.outDir, say);
  return outcome;
}

/** Below this a chunk is for watching boundaries land, not for speed. */
export const SMALL_CHUNK_BYTES = 1024 * 1024;

/** Why a chunk size is worth a second thought, or undefined: the run goes ahead either way. */
export function smallChunkWarning(chunkBytes: number): string | undefined {
  if (chunkBytes >= SMALL_CHUNK_BYTES) return undefined;
  return (
    `--chunk-size ${formatBytes(chunkBytes)} is under 1 MiB: each chunk costs a worker task and several S3 requests, ` +
    'so a size this small is for watching chunk boundaries, not for speed (the run goes ahead)'
  );
}

/** A split asked for a .gz file cannot happen (the job runs it on one worker and says so in summary.json). */
export function gzipSplitWarning(file: string, split: RatesSplit | undefined): string | undefined {
  const asked = (split?.workers !== undefined && split.workers > 1) || split?.chunkBytes !== undefined;
  if (!asked || !isGzipFileName(file)) return undefined;
  return `${path.basename(file)} is gzip-compressed, and gzip cannot be split: the run goes ahead on one worker (upload it uncompressed to split it)`;
}

const fmt = (n: number) =>
  Math.abs(n) >= 1e4 || (Math.abs(n) < 1e-3 && n !== 0) ? n.toExponential(4) : n.toPrecision(5);

export function formatSummary(summary: RatesSummary): string {
  const { stats, badRows, timings } = summary;
  const lines = [
    `rates for s3://${summary.input.bucket}/${summary.input.key}`,
    `  ${summary.rateColumn} = ${summary.options.numerator} / ${summary.options.denominator}`,
    `  rows       ${summary.rows.toLocaleString('en-US')} valid, ${badRows.count.toLocaleString('en-US')} bad`,
    `  ${summary.rateColumn.padEnd(10)} min ${fmt(stats.min)}  median ${fmt(stats.median)}  mean ${fmt(stats.mean)}  p95 ${fmt(stats.p95)}  max ${fmt(stats.max)}`,
  ];
  if (badRows.count > 0) {
    lines.push(`  bad rows (${badRows.samples.length < badRows.count ? `first ${badRows.samples.length}` : 'all'}):`);
    for (const bad of badRows.samples.slice(0, 5)) lines.push(`    line ${bad.line}: ${bad.reason}`);
    if (badRows.samples.length > 5) lines.push(`    … ${badRows.count - 5} more in summary.json`);
  }
  lines.push('  outputs:');
  const { csv, png, svg, summary: summaryUri } = summary.outputs;
  for (const uri of [csv, png, svg, summaryUri]) lines.push(`    ${uri}`);
  lines.push(
    `  timings    compute ${timings.computeMs} ms, upload ${timings.uploadMs} ms, chart ${timings.chartMs} ms, total ${timings.totalMs} ms`,
  );
  if (summary.input.compression !== undefined) {
    const stored = summary.input.storedBytes;
    lines.push(
      `  input      ${summary.input.compression}${stored === null || stored === undefined ? '' : `, ${formatBytes(stored)} stored`}, ${formatBytes(summary.input.bytes)} of CSV`,
    );
  }
  if (summary.singleWorkerReason !== undefined) lines.push(`  one worker ${summary.singleWorkerReason}`);
  const { parallel } = summary;
  if (parallel !== undefined) {
    lines.push(
      `  parallel   ${plural(parallel.chunks, 'chunk')} on ${plural(parallel.workers, 'worker')}, ` +
        `${plural(parallel.reruns, 're-run')}, wall ${Math.round(parallel.wallMs)} ms` +
        (parallel.cost === null ? '' : `, workers ≈ $${parallel.cost.usd.toFixed(6)}`),
    );
    lines.push(`  rates.csv  ${describeAssembly(parallel.assembly)}`);
  }
  const { timeline } = summary.outputs;
  if (timeline !== undefined) lines.push(`  timeline   ${timeline.png}  (timeline.json and timeline.svg beside it)`);
  lines.push('');
  return lines.join('\n');
}

/** Where rates.csv's bytes came from: most should be the workers' own parts. */
function describeAssembly(a: AssemblyFigures): string {
  const copied = a.copiedParts === 0 ? '' : `, ${plural(a.copiedParts, 'part')} copied (${formatMiB(a.copiedBytes)})`;
  const stitched =
    a.stitchedParts === 0 ? '' : `, ${plural(a.stitchedParts, 'part')} stitched (${formatMiB(a.stitchedBytes)})`;
  return `${plural(a.workerParts, 'part')} uploaded by the workers (${formatMiB(a.workerBytes)})${copied}${stitched}`;
}
