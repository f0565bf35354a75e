import { z } from 'zod';
import { FanoutError } from './errors.ts';
import { type RecordWorker, workerFactsOf, workerFactsSchema } from './trace.ts';

/**
 * What a worker hands back for one task, on every backend: `{ok: true, value, ms}` or
 * `{ok: false, error: {type, message}, ms}`. The EC2 runner (./ec2/runner.ts) writes it to S3, the local worker
 * thread (./local-worker.js) posts it, and the Lambda backend reads a reply (the value, or a FunctionError) as
 * one. Each backend checks it with {@link workerEnvelopeSchema} and opens it with {@link openEnvelope}, so a
 * result is validated the same way wherever it ran. The worker's facts for the run's timeline (./trace.ts: its
 * clock around the task, which worker, a cold start) ride along, optional, beside `ms`.
 */
export const workerEnvelopeSchema = z.union([
  z.object({ ok: z.literal(true), value: z.unknown(), ms: z.number().optional(), ...workerFactsSchema.shape }),
  z.object({
    ok: z.literal(false),
    error: z.object({ type: z.string(), message: z.string() }),
    ms: z.number().optional(),
    ...workerFactsSchema.shape,
  }),
]);
export type WorkerEnvelope = z.infer<typeof workerEnvelopeSchema>;

/** Checks and shapes a worker's value; whatever it throws fails the task as a function error `InvalidResult`. */
export type ResultParser<R> = (value: unknown) => R;

/** How a backend names the worker in the errors an envelope turns into. */
export interface EnvelopeSource {
  /** Put before the worker's own error message (`chunk 3 (run r): `); empty to pass it on as is. */
  errorPrefix: string;
  /** Put before what `parse` objected to (`my-function replied with an unexpected result: `). */
  invalidPrefix: string;
}

/**
 * The task's value out of a checked envelope: a failure becomes a `function` {@link FanoutError} with the
 * worker's error type, and the value goes through `parse` when there is one. The worker's facts, if it sent any,
 * go to `record` first, so a failed attempt keeps its span too.
 */
export function openEnvelope<R>(
  envelope: WorkerEnvelope,
  parse: ResultParser<R> | undefined,
  source: EnvelopeSource,
  record?: RecordWorker,
): R {
  const facts = workerFactsOf(envelope);
  if (facts && record) record(facts);
  if (!envelope.ok)
    throw new FanoutError('function', envelope.error.type, `${source.errorPrefix}${envelope.error.message}`);
  // Without a parser the caller vouches for the value's shape, as with any untyped JSON.
  if (!parse) return envelope.value as R;
  try {
    return parse(envelope.value);
  } catch (error) {
    throw new FanoutError(
      'function',
      'InvalidResult',
      `${source.invalidPrefix}${(error as Error)?.message ?? String(error)}`,
      { cause: error },
    );
  }
}
