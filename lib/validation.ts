import type { z } from 'zod';

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
