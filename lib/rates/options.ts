/**
 * The options of a rates run — which column is divided by which, and how many histogram bins — and their one
 * schema. Every way in (S3 metadata, a direct invocation, the EC2 task, the CLI's flags, a library call) checks
 * them with these rules; only the wording of the messages differs by caller.
 */
import { z } from 'zod';
import { binCount, columnName } from '../config.ts';
import { RatesFileError } from './errors.ts';

export const rateOptionsSchema = z.object({
  numerator: columnName,
  denominator: columnName,
  /** Histogram bin count, integer 1..1000. */
  bins: binCount,
});

export type RateOptions = z.infer<typeof rateOptionsSchema>;

/** How computeRates has always worded a broken option (library callers and tests match these). */
const LIBRARY_WORDING: Record<keyof RateOptions, string> = {
  numerator: 'must be a non-empty column name',
  denominator: 'must be a non-empty column name',
  bins: 'must be an integer from 1 to 1000',
};

/**
 * computeRates' check of options handed to it directly: the schema's rules, with the names trimmed (header names
 * are, so " cancer" still finds "cancer"). Throws INVALID_OPTIONS naming each broken option and its value.
 */
export function checkRateOptions(options: unknown): RateOptions {
  const given = (typeof options === 'object' && options !== null && !Array.isArray(options) ? options : {}) as Record<
    string,
    unknown
  >;
  const parsed = rateOptionsSchema.safeParse(given);
  if (parsed.success) return parsed.data;
  const problems = new Map<string, string>();
  for (const issue of parsed.error.issues) {
    const key = String(issue.path[0]) as keyof RateOptions;
    if (problems.has(key)) continue;
    // A name over the schema's length limit is not "empty": say what the limit is.
    const rule = issue.code === 'too_big' && key !== 'bins' ? issue.message : LIBRARY_WORDING[key];
    problems.set(key, `${key} ${rule}, got ${JSON.stringify(given[key])}`);
  }
  throw new RatesFileError('INVALID_OPTIONS', `Invalid options: ${[...problems.values()].join('; ')}.`);
}
