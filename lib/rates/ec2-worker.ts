import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { putFile } from '../aws/presigned-http.ts';
import { MAX_SINGLE_PUT_BYTES } from '../config.ts';
import { describeIssues } from '../validation.ts';
import { computeRates, type RatesResult } from './csv-rates.ts';
import { rateOptionsSchema } from './options.ts';
import { RatesFileError, type RatesErrorCode } from './errors.ts';

/**
 * The rates computation as an EC2 instance runs it (bundled by lib/fanout/ec2/worker-bundle.ts): for a file too big
 * or too slow for a Lambda. The instance has presigned URLs and nothing else, so it does the heavy part only —
 * stream the input, write the CSV with the rate column to a local file, PUT it to the run's scratch space — and
 * hands back the statistics. The caller (lib/rates/ec2.ts) copies the CSV into `results/`, draws the chart and
 * writes summary.json exactly as the Lambda does.
 */

export const ratesEc2TaskSchema = z.object({
  /** Presigned GET of the input CSV. */
  inputUrl: z.url(),
  /** Presigned PUT for the CSV with the rate column. */
  outputUrl: z.url(),
  options: rateOptionsSchema,
});
export type RatesEc2Task = z.infer<typeof ratesEc2TaskSchema>;

export type RatesEc2Result =
  | ({ status: 'ok'; outputBytes: number; computeMs: number; uploadMs: number } & Omit<RatesResult, 'columns'>)
  /** The file itself is bad (not CSV, a column missing, ...): an answer for the user, not a crash. */
  | { status: 'error'; code: RatesErrorCode; message: string };

export async function run(input: unknown): Promise<RatesEc2Result> {
  const parsed = ratesEc2TaskSchema.safeParse(input);
  if (!parsed.success) throw new TypeError(`invalid rates task: ${describeIssues(parsed.error, '(task)')}`);
  const task = parsed.data;
  const started = performance.now();
  const response = await fetch(task.inputUrl);
  if (!response.ok || response.body === null) {
    throw new Error(`GET of the input failed: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cp-rates-'));
  try {
    const file = path.join(dir, 'rates.csv');
    const out = createWriteStream(file, { highWaterMark: 1 << 20 });
    let result: RatesResult;
    try {
      result = await computeRates(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), out, task.options);
    } catch (error) {
      out.destroy();
      if (error instanceof RatesFileError) return { status: 'error', code: error.code, message: error.message };
      throw error;
    }
    out.end();
    await finished(out);
    const computeMs = performance.now() - started;
    const { size } = await stat(file);
    if (size > MAX_SINGLE_PUT_BYTES) {
      throw new Error(
        `the output CSV is ${size} bytes, over S3's ${MAX_SINGLE_PUT_BYTES}-byte limit for one PUT: split the input file`,
      );
    }
    const put = await putFile(task.outputUrl, file, size);
    if (put.status < 200 || put.status >= 300) {
      throw new Error(`PUT of the output failed: HTTP ${put.status} ${put.body.slice(0, 300)}`);
    }
    return {
      status: 'ok',
      rateColumn: result.rateColumn,
      rows: result.rows,
      badRows: result.badRows,
      badRowSamples: result.badRowSamples,
      stats: result.stats,
      inputBytes: result.inputBytes,
      outputBytes: size,
      computeMs: Math.round(computeMs * 10) / 10,
      uploadMs: Math.round((performance.now() - started - computeMs) * 10) / 10,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
