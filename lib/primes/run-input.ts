/**
 * What a primes fan-out takes, and the parsing of an invocation's event. Apart from the run (./fanout-job.ts), so
 * that judging an input (the CLI's flags, the dashboard's form) loads no backend and no AWS client.
 */
import { z } from 'zod';
import { BACKEND_NAMES } from '../fanout/backend-names.ts';
import { UserError } from '../errors.ts';
import { describeIssues, parseEventInput } from '../validation.ts';
import { runIdSchema } from './run-id.ts';
import { checkRange, checkSplit, rangeFields, splitFields } from './chunks.ts';

/**
 * The fan-out's input, as `sls invoke`, the schedule and the CLI give it. Unknown fields are refused: a misspelt
 * option (`chunk: 4`) or one the fan-out does not take (`includePrimes`) must not run something else quietly.
 */
export const primesRunSchema = z
  .strictObject({
    ...rangeFields,
    ...splitFields,
    backend: z.enum(BACKEND_NAMES, { error: `backend must be one of: ${BACKEND_NAMES.join(', ')}` }).default('lambda'),
    chunksPerInstance: z
      .number({ error: 'chunksPerInstance must be a number' })
      .int('chunksPerInstance must be a whole number')
      .min(1, 'chunksPerInstance must be at least 1')
      .max(64, 'chunksPerInstance must be at most 64')
      .optional(),
    concurrency: z
      .number({ error: 'concurrency must be a number' })
      .int('concurrency must be a whole number')
      .min(1, 'concurrency must be at least 1')
      .max(1000, 'concurrency must be at most 1000')
      .optional(),
    /**
     * The run's id, when the caller chose it (the dashboard, to find the run's progress.json while it runs);
     * default a fresh one. A run given the id of an earlier run overwrites that run's files.
     */
    runId: runIdSchema.optional(),
  })
  .superRefine((input, context) => {
    checkRange(input, context);
    if (input.start <= input.end) checkSplit(input, context);
    if (input.chunksPerInstance !== undefined && input.backend !== 'ec2') {
      context.addIssue({
        code: 'custom',
        message: 'chunksPerInstance applies to backend "ec2" only',
        path: ['chunksPerInstance'],
      });
    }
  });
export type PrimesRunInput = z.infer<typeof primesRunSchema>;

export function parsePrimesRunInput(input: unknown): PrimesRunInput {
  const parsed = primesRunSchema.safeParse(input);
  if (!parsed.success) {
    throw new UserError('INVALID_INPUT', describeIssues(parsed.error));
  }
  return parsed.data;
}

/** The input of a fan-out invocation: the event itself, or the detail of an EventBridge envelope (lib/validation.ts). */
export function parsePrimesEvent(event: unknown): PrimesRunInput {
  return parseEventInput(event, parsePrimesRunInput);
}
