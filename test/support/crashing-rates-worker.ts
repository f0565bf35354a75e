/**
 * The real rates worker (lib/rates/parallel/worker.ts runRatesWorkerTask) with one chosen chunk made to fail, for
 * the failure tests of the split run: the local fan-out backend loads this module in its threads instead. Which
 * chunk and how come from RATES_TEST_FAULT (JSON), read per task from the thread's environment, which a thread
 * copies from the test's when it starts:
 *
 *   - `throw`: the task throws (a worker bug: a function error, not retried);
 *   - `exit`: the thread dies (process.exit, a transport failure the fan-out retries), on every attempt;
 *   - `exit-once`: the thread dies on the first attempt only, and the next attempt runs the real worker;
 *   - `hang`: the task never answers (a worker stuck until its caller's deadline);
 *   - `replace`: the upload is replaced in S3 first (a new object at its key), then the real worker runs;
 *   - `lie-on-rerun`: any chunk run again from a known start (after a wrong guess; `chunk` is ignored) answers as
 *     if it had started a byte later (a worker that does not start where it is told to).
 *
 * Every attempt at the chosen chunk appends its mode to the file `log`, so a test counts attempts across threads.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { createS3Client } from '../../lib/aws/s3.ts';
import type { ParseResult } from '../../lib/rates/parallel/tasks.ts';
import { runRatesWorkerTask, type WorkerResult } from '../../lib/rates/parallel/worker.ts';

export const FAULT_ENV = 'RATES_TEST_FAULT';

const faultSchema = z.strictObject({
  chunk: z.number().int().min(0),
  mode: z.enum(['throw', 'exit', 'exit-once', 'hang', 'replace', 'lie-on-rerun']),
  log: z.string().min(1),
});

export type RatesWorkerFault = z.infer<typeof faultSchema>;

const parseOf = z.object({
  kind: z.literal('parse'),
  index: z.number(),
  source: z.object({ bucket: z.string(), key: z.string() }),
  start: z.object({ kind: z.enum(['known', 'guess']) }),
});

function attemptsSoFar(log: string): number {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0; // no attempt yet: the file does not exist
  }
}

export async function runFaultyRatesWorkerTask(task: unknown): Promise<WorkerResult> {
  const raw = process.env[FAULT_ENV];
  const fault = raw === undefined ? null : faultSchema.parse(JSON.parse(raw));
  const parse = parseOf.safeParse(task);
  if (fault?.mode === 'lie-on-rerun' && parse.success && parse.data.index > 0 && parse.data.start.kind === 'known') {
    appendFileSync(fault.log, `${fault.mode}\n`);
    const result = (await runRatesWorkerTask(task)) as ParseResult;
    return { ...result, reply: { ...result.reply, start: result.reply.start + 1 } };
  }
  if (fault === null || !parse.success || parse.data.index !== fault.chunk) return runRatesWorkerTask(task);
  const earlier = attemptsSoFar(fault.log);
  appendFileSync(fault.log, `${fault.mode}\n`);
  switch (fault.mode) {
    case 'throw':
      throw new Error(`injected failure of chunk ${fault.chunk}`);
    case 'exit':
      process.exit(3);
      break;
    case 'exit-once':
      if (earlier === 0) process.exit(3);
      break;
    case 'hang':
      return new Promise<never>(() => undefined);
    case 'lie-on-rerun':
      break;
    case 'replace': {
      const { bucket, key } = parse.data.source;
      const s3 = createS3Client();
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'id,name,num,den\n1,replaced,1,2\n' }));
      s3.destroy();
      break;
    }
  }
  return runRatesWorkerTask(task);
}
