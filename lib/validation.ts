import type { z } from 'zod';
import { UserError } from './errors.ts';

/**
 * Formats zod issues as one line a person can act on: `Records.0.s3.bucket.name: expected string`.
 * Messages that already start with their field's name (`start must be ≤ end`) are not prefixed again.
 */
export function describeIssues(error: z.ZodError, root = '(input)'): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      const field = String(issue.path.at(-1) ?? '');
      if (field !== '' && issue.message.startsWith(`${field} `)) return issue.message;
      return `${path || root}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * The input inside whatever invoked a function. An EventBridge rule's constant `input` and an `sls invoke` payload
 * arrive as the event itself; an EventBridge event without one is an envelope (`version`, `id`, `detail-type`,
 * `source`, `detail`, …) whose `detail` carries the input; a JSON string is parsed. `envelope` describes where the
 * input came from when it was unwrapped, for error messages.
 */
export function eventInput(event: unknown): { input: unknown; envelope?: string } {
  if (typeof event === 'string') {
    try {
      return { input: JSON.parse(event) as unknown };
    } catch {
      return { input: event };
    }
  }
  if (typeof event === 'object' && event !== null && 'detail-type' in event && 'detail' in event) {
    const type = JSON.stringify(String(event['detail-type']).slice(0, 100));
    return { input: event.detail, envelope: `EventBridge ${type} event` };
  }
  return { input: event };
}

/**
 * `parse(eventInput(event).input)`; when the input came out of an EventBridge envelope, a UserError says so, since
 * the sender may not know the function was given the envelope rather than the rule's input.
 */
export function parseEventInput<T>(event: unknown, parse: (input: unknown) => T): T {
  const { input, envelope } = eventInput(event);
  if (envelope === undefined) return parse(input);
  try {
    return parse(input);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    throw new UserError(
      error.code,
      `${envelope}: its detail is not a valid input (a schedule with a constant input passes that input as the event itself): ${error.message}`,
    );
  }
}
