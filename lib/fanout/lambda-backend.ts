import { InvokeCommand, type InvokeCommandOutput, type LambdaClient } from '@aws-sdk/client-lambda';
import { openEnvelope, type ResultParser, type WorkerEnvelope } from './envelope.ts';
import { abortReason, classifyError, FanoutError } from './errors.ts';
import type { Backend } from './index.ts';
import { WORKER_FACTS_KEY, workerFactsOf, type WorkerFacts } from './trace.ts';

/**
 * One synchronous (`RequestResponse`) Lambda invocation per task attempt: the task goes out as the JSON
 * payload, the function's JSON reply comes back as the value.
 *
 * Retry layers. The SDK client retries on its own (standard mode, `maxAttempts` 3 by default) and the fan-out
 * retries on top, so with a default client one task may be invoked up to 3 × (retries + 1) times, under two
 * backoff schedules that know nothing of each other — and the SDK's retry quota is shared by the whole client,
 * so under heavy throttling it runs dry mid-run and the behaviour changes. Build the client with
 * `maxAttempts: 1` (lib/aws/lambda.ts `createLambdaClient()` does) so the fan-out's backoff with full jitter is
 * the only retry layer: attempts, progress events and `attempts` counts then mean what they say. Also give the
 * client at least `concurrency` sockets: each in-flight invocation holds one for its whole run, and the SDK's
 * default of 50 silently caps the fan-out.
 *
 * The fan-out's signal (the fan-out Lambda's deadline, a Ctrl-C) goes to the SDK as `abortSignal`: every invocation
 * still waiting is abandoned at once — its socket closed, its task failed with kind `aborted` and the signal's
 * reason — so the caller gets the finished tasks back in time. Lambda has no way to cancel a synchronous
 * invocation it has started: an abandoned worker runs on (and bills) until it returns or hits its own timeout.
 *
 * Retries re-invoke: a task whose reply was lost (connection reset, client timeout) may have run, or may still
 * be running, so tasks should be idempotent — as they are when a task's output is a pure function of its input.
 */
export interface LambdaBackendOptions<R> {
  client: LambdaClient;
  /** Name, ARN or partial ARN, optionally with `:alias` or `:version`. */
  functionName: string;
  /** Checks and shapes the function's reply; whatever it throws fails the task as a function error `InvalidResult`. */
  parse?: ResultParser<R>;
}

const decoder = new TextDecoder();

function decodePayload(payload: Uint8Array | undefined, functionName: string): unknown {
  const text = payload === undefined ? '' : decoder.decode(payload);
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    // Lambda serializes every reply as JSON, so this is a proxy or emulator in the way, not the function.
    throw new FanoutError(
      'transport',
      'InvalidResponsePayload',
      `${functionName} answered with a payload that is not JSON: ${text.slice(0, 200)}`,
      {
        retryable: false,
      },
    );
  }
}

function encodeTask(task: unknown): Uint8Array {
  let json: string | undefined;
  try {
    json = JSON.stringify(task);
  } catch (error) {
    throw new FanoutError(
      'transport',
      'InvalidTaskPayload',
      `the task cannot be sent as JSON: ${(error as Error).message}`,
      { retryable: false },
    );
  }
  // JSON.stringify(undefined) is undefined, not a string; Lambda's own encoding of "no event" is null.
  return new TextEncoder().encode(json ?? 'null');
}

/**
 * A successful reply's value without the worker's facts (./worker-facts.ts puts them under WORKER_FACTS_KEY), and
 * the facts. A reply without the key, or one that is not an object, is the value as it is.
 */
function splitFacts(reply: unknown): { value: unknown; facts?: WorkerFacts } {
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply) || !(WORKER_FACTS_KEY in reply))
    return { value: reply };
  const { [WORKER_FACTS_KEY]: raw, ...value } = reply as Record<string, unknown>;
  const facts = workerFactsOf(raw);
  return facts === undefined ? { value } : { value, facts };
}

/**
 * A reply as the worker envelope every backend opens (./envelope.ts): Lambda says "the function threw" with
 * `FunctionError` and puts `{errorType, errorMessage}` in the payload (the runtime sends nothing else, so a failed
 * invocation has no worker facts: its timeline bar is the coordinator's span).
 */
function envelopeOf(functionError: string | undefined, reply: unknown): WorkerEnvelope {
  if (!functionError) {
    const { value, facts } = splitFacts(reply);
    return { ok: true, value, ...facts };
  }
  const { errorType, errorMessage } = (typeof reply === 'object' && reply !== null ? reply : {}) as {
    errorType?: unknown;
    errorMessage?: unknown;
  };
  const type = typeof errorType === 'string' && errorType !== '' ? errorType : functionError;
  const message =
    typeof errorMessage === 'string' ? errorMessage : typeof reply === 'string' ? reply : JSON.stringify(reply);
  return { ok: false, error: { type, message } };
}

/**
 * The client's connection and request timeouts (lib/aws/lambda.ts) end an invocation whose connection was
 * dropped or whose endpoint never answers; the SDK's own message names the limit, this one adds what it means.
 */
function describeTimeout(error: FanoutError, functionName: string): FanoutError {
  if (error.type !== 'TimeoutError') return error;
  return new FanoutError(
    error.kind,
    error.type,
    `no answer from ${functionName} in time (a dropped connection or a stalled endpoint; the invocation may still have run): ${error.message}`,
    { retryable: error.retryable, cause: error.cause },
  );
}

export function lambdaBackend<T, R>(options: LambdaBackendOptions<R>): Backend<T, R> {
  const { client, functionName, parse } = options;
  if (typeof functionName !== 'string' || functionName.trim() === '') {
    throw new TypeError('lambdaBackend: functionName must be a non-empty function name or ARN');
  }
  return {
    name: `lambda:${functionName}`,
    async run(task, { index, signal, recordWorker }) {
      const command = new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: encodeTask(task),
      });
      if (signal?.aborted)
        throw new FanoutError('aborted', 'AbortError', `task ${index}: not invoked: ${abortReason(signal)}`);
      let response: InvokeCommandOutput;
      try {
        response = await client.send(command, signal === undefined ? {} : { abortSignal: signal });
      } catch (error) {
        // The SDK's AbortError says only "Request aborted"; the signal knows why (e.g. the fan-out's deadline).
        if (signal?.aborted) {
          throw new FanoutError(
            'aborted',
            'AbortError',
            `task ${index}: invocation of ${functionName} abandoned: ${abortReason(signal)}`,
            { cause: error },
          );
        }
        throw describeTimeout(classifyError(error), functionName);
      }
      const reply = decodePayload(response.Payload, functionName);
      return openEnvelope(
        envelopeOf(response.FunctionError, reply),
        parse,
        {
          errorPrefix: '',
          invalidPrefix: `${functionName} replied with an unexpected result: `,
        },
        recordWorker,
      );
    },
  };
}
