/**
 * A primes run handed to the deployed fan-out function (functions/primes-fanout.ts) through the Lambda invoke API,
 * as `sls invoke -f primes-fanout` does: the input is checked here first with the schema the function uses, so a
 * bad range is refused in words before anything is invoked. The fan-out runs synchronously inside that function and
 * answers with the whole result (its run id and where its timeline went); nothing of it is observable before.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { z } from 'zod';
import { InfrastructureError, UserError } from '../errors.ts';
import { describeIssues } from '../validation.ts';
import { parsePrimesRunInput, type PrimesRunInput } from './run-input.ts';
import type { PrimesResult } from './run.ts';

/** The function did not answer with a run: it threw, timed out, or replied with something else. */
export class FanoutInvocationError extends InfrastructureError {
  get code() {
    return 'FANOUT_FAILED';
  }
}

/** What the dashboard and a CLI need of the reply; the rest of PrimesResult is carried through unchecked. */
const replySchema = z.looseObject({
  runId: z.string(),
  start: z.number(),
  end: z.number(),
  backend: z.string(),
  count: z.number(),
  complete: z.boolean(),
  wallMs: z.number(),
  workerMs: z.number(),
  speedup: z.number(),
  chunks: z.array(z.unknown()),
  failedChunks: z.array(z.unknown()),
});

const rejectedSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/**
 * Invokes `functionName` with `input` (checked first: a UserError in words when it is not a valid run) and returns
 * its result. A refusal by the function is a UserError too; a failed invocation a {@link FanoutInvocationError}.
 */
export async function invokePrimesFanout(
  lambda: LambdaClient,
  functionName: string,
  input: unknown,
  options: { signal?: AbortSignal } = {},
): Promise<PrimesResult> {
  const checked: PrimesRunInput = parsePrimesRunInput(input);
  if (checked.backend !== 'lambda' && checked.backend !== 'ec2')
    throw new UserError('INVALID_INPUT', `backend "${checked.backend}" runs only from the CLI; use lambda or ec2`);
  const response = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'RequestResponse',
      Payload: new TextEncoder().encode(JSON.stringify(checked)),
    }),
    options.signal === undefined ? {} : { abortSignal: options.signal },
  );
  return readReply(functionName, response.FunctionError, response.Payload);
}

/** The reply of an invocation as a result, or the error it stands for. */
export function readReply(
  functionName: string,
  functionError: string | undefined,
  payload: Uint8Array | undefined,
): PrimesResult {
  const text = payload === undefined ? '' : new TextDecoder().decode(payload);
  let reply: unknown;
  try {
    reply = text.trim() === '' ? null : JSON.parse(text);
  } catch {
    throw new FanoutInvocationError(`${functionName} answered with a payload that is not JSON: ${text.slice(0, 200)}`);
  }
  if (functionError) {
    const { errorType, errorMessage } = (typeof reply === 'object' && reply !== null ? reply : {}) as Record<
      string,
      unknown
    >;
    const type = typeof errorType === 'string' ? errorType : functionError;
    const message = typeof errorMessage === 'string' ? errorMessage : text.slice(0, 500);
    throw new FanoutInvocationError(`${functionName} failed (${type}): ${message}`);
  }
  const rejected = rejectedSchema.safeParse(reply);
  if (rejected.success) throw new UserError(rejected.data.error.code, rejected.data.error.message);
  const parsed = replySchema.safeParse(reply);
  if (!parsed.success)
    throw new FanoutInvocationError(
      `${functionName} replied with something other than a primes run: ${describeIssues(parsed.error)}`,
    );
  // The chunks and the cost are the function's own PrimesResult, passed through as it wrote them.
  return parsed.data as unknown as PrimesResult;
}
