/**
 * POST /runs/start (the form, url-encoded): checks the range with the fan-out's own schema (lib/primes/fanout-job.ts)
 * and answers a bad one with 400 and its message in words; otherwise invokes the primes-fanout function through the
 * Lambda invoke API (lib/primes/invoke-fanout.ts) as a job (./jobs.ts) and answers 202 `{jobId, runId}`. The run id
 * is chosen here (newRunId, as the fan-out would) and passed in the input, so the run's progress.json can be found
 * while the invocation is still running.
 * GET /runs/jobs?id=<jobId>: the job's state for the page's script, with the run's progress while it runs.
 */
import { z } from 'zod';
import { UserError } from '../../../lib/errors.ts';
import { parsePrimesRunInput, type PrimesRunInput } from '../../../lib/primes/run-input.ts';
import { newRunId } from '../../../lib/fanout/ec2/run.ts';
import { invokePrimesFanout } from '../../../lib/primes/invoke-fanout.ts';
import { type PrimesProgress, readPrimesProgress } from '../../../lib/primes/run-progress.ts';
import { sendError, sendJson } from '../../http.ts';
import type { RouteContext } from '../../routes.ts';
import { createRunJobs, type RunJob } from './jobs.ts';
import { formatRange } from './view.ts';

/** One registry per dashboard process: the page's script polls the process that started the job. */
export const runJobs = createRunJobs();

/** A form is a few short fields; anything longer is not this form. */
const MAX_FORM_BYTES = 4096;

const NUMBER_FIELDS = ['start', 'end', 'chunks', 'chunkSize'] as const;

/**
 * A form field as the schema should see it: empty is absent, digits (with `,` `_` or spaces between groups, or an
 * exponent: 1e8) are a number, anything else stays text so the schema says "start must be a number".
 */
export function fieldValue(raw: string | null): number | string | undefined {
  const text = (raw ?? '').trim();
  if (text === '') return undefined;
  const plain = text.replace(/[,_ ]/g, '');
  return /^-?\d+(\.\d+)?(e\d+)?$/i.test(plain) ? Number(plain) : text;
}

/** The form's fields as a fan-out input, checked: a UserError whose message names what is wrong. */
export function formToRunInput(form: URLSearchParams): PrimesRunInput {
  const candidate: Record<string, unknown> = {};
  for (const name of NUMBER_FIELDS) {
    const value = fieldValue(form.get(name));
    if (value !== undefined) candidate[name] = value;
  }
  candidate.backend = form.get('backend') || 'lambda';
  return parsePrimesRunInput(candidate);
}

async function readForm(req: RouteContext['req']): Promise<URLSearchParams | undefined> {
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_FORM_BYTES) return undefined;
    parts.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(parts).toString('utf8'));
}

export async function handleStart({ req, res, services }: RouteContext): Promise<void> {
  if (services.primes === undefined)
    return sendError(req, res, 403, 'Starting runs is off: this dashboard has no fan-out function to invoke');
  const form = await readForm(req);
  if (form === undefined) return sendError(req, res, 413, `The form is over ${MAX_FORM_BYTES} bytes`);
  let input: PrimesRunInput;
  try {
    input = formToRunInput(form);
  } catch (error) {
    if (error instanceof UserError) return sendError(req, res, 400, `The run was refused: ${error.message}`);
    throw error;
  }
  const split = input.chunkSize === undefined ? `${input.chunks ?? 1} chunks` : `chunks of ${input.chunkSize}`;
  const { lambda, fanoutFunction } = services.primes;
  const runId = newRunId();
  const job = runJobs.start(
    `${formatRange(input)} in ${split} on ${input.backend}`,
    () => invokePrimesFanout(lambda, fanoutFunction, { ...input, runId }),
    runId,
  );
  sendJson(res, 202, { jobId: job.id, runId });
}

/**
 * A running job's progress.json, as the fan-out last wrote it; nothing before its first write. Progress is
 * advisory: when S3 cannot be read the poll still answers, with why, and the page keeps showing the elapsed time.
 */
async function progressOf(
  job: RunJob,
  { s3, bucket }: RouteContext['services'],
): Promise<{ progress?: PrimesProgress; progressError?: string }> {
  if (job.state !== 'running' || job.runId === undefined) return {};
  try {
    const progress = await readPrimesProgress(s3, bucket, job.runId);
    return progress === null ? {} : { progress };
  } catch (error) {
    return { progressError: `its progress could not be read: ${(error as Error)?.message ?? String(error)}` };
  }
}

const jobQuery = z.object({ id: z.uuid() });

export async function handleJob({ req, res, url, services }: RouteContext): Promise<void> {
  const parsed = jobQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) return sendError(req, res, 400, `Not a job: ${parsed.error.issues[0]?.message}`);
  const job = runJobs.get(parsed.data.id);
  if (job === undefined)
    return sendError(req, res, 404, 'No such job here (the dashboard restarted?): its run, if it finished, is listed');
  sendJson(res, 200, { ...runJobs.view(job), ...(await progressOf(job, services)) });
}
