/**
 * A scrape run on the scrape function, through the Lambda invoke API (the local stack's or AWS's, as the client's
 * endpoint says): what `sls invoke -f scrape` does, for callers that are not the scraper's own process (the
 * dashboard). The input is validated here first, so a bad one is refused without an invocation.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { z } from 'zod';
import { InfrastructureError, UserError } from '../errors.ts';
import { parseScrapeInput } from './input.ts';
import type { ScrapeResult } from './run.ts';

/** The function's `timeout` in serverless.yml (functions.scrape): sizes the client's request timeout. */
export const SCRAPE_FUNCTION_TIMEOUT_SECONDS = 300;

const rejectedSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const crashedSchema = z.object({ errorType: z.string().optional(), errorMessage: z.string().optional() });
// The counts are what a caller reads; anything else in the reply is passed through unchecked.
const resultSchema = z.looseObject({
  source: z.enum(['yelp', 'hn']),
  fetched: z.number(),
  upserted: z.number(),
  modified: z.number(),
  unchanged: z.number(),
  failed: z.array(z.object({ id: z.string(), reason: z.string() })),
  left: z.array(z.string()),
  wallMs: z.number(),
  requests: z.number(),
  retries: z.number(),
});

/** The scrape function could not run the input (a crash, a timeout, a reply that is no result). */
export class ScrapeInvocationError extends InfrastructureError {
  get code(): string {
    return 'SCRAPE_INVOCATION_FAILED';
  }
  constructor(message: string) {
    super(message);
    this.name = 'ScrapeInvocationError';
  }
}

/**
 * Invokes `functionName` with `input` and waits for its result. A refused input comes back as a UserError with
 * the function's code and message; a failed invocation (a crash, a timeout) as a ScrapeInvocationError naming it.
 */
export async function invokeScrape(
  lambda: LambdaClient,
  functionName: string,
  input: unknown,
  signal?: AbortSignal,
): Promise<ScrapeResult> {
  const event = parseScrapeInput(input);
  const response = await lambda.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(event)) }),
    signal === undefined ? {} : { abortSignal: signal },
  );
  const text = response.Payload === undefined ? '' : Buffer.from(response.Payload).toString('utf8');
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    throw new ScrapeInvocationError(`${functionName} answered something that is not JSON: ${text.slice(0, 200)}`);
  }
  if (response.FunctionError !== undefined) {
    const crash = crashedSchema.safeParse(reply);
    const what = crash.success ? `${crash.data.errorType ?? 'Error'}: ${crash.data.errorMessage ?? ''}` : text;
    throw new ScrapeInvocationError(`${functionName} failed (${response.FunctionError}): ${what.slice(0, 500)}`);
  }
  const rejected = rejectedSchema.safeParse(reply);
  if (rejected.success) throw new UserError(rejected.data.error.code, rejected.data.error.message);
  const result = resultSchema.safeParse(reply);
  if (!result.success)
    throw new ScrapeInvocationError(`${functionName} answered no scrape result: ${text.slice(0, 200)}`);
  return result.data as ScrapeResult;
}
