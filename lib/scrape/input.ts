/**
 * What a scrape takes: its schema, limits and the parsing of an invocation's event. Apart from the run
 * (./run.ts), so that judging an input (the CLI's flags, the dashboard's form) loads neither the request pool nor
 * the MongoDB driver.
 */
import { z } from 'zod';
import { UserError } from '../errors.ts';
import { describeIssues, eventInput, parseEventInput } from '../validation.ts';
import { MAX_HN_IDS } from './hn.ts';

/** Yelp serves at most this many results of one search: offset + limit must not exceed it. */
export const YELP_MAX_RESULTS = 1000;
export const MAX_CONCURRENCY = 64;
export const DEFAULT_LIMIT = 20;
export const MAX_CITIES = 100;

const concurrency = z
  .number()
  .int('concurrency must be a whole number')
  .min(1, 'concurrency must be at least 1')
  .max(MAX_CONCURRENCY, `concurrency must be at most ${MAX_CONCURRENCY}`);

/** Longest city name sent to Yelp: a place name, not a document (each one is part of a URL and of the reply). */
export const MAX_CITY_NAME_LENGTH = 256;

const cityName = z
  .string('each city must be a string such as "Austin, TX"')
  .trim()
  .min(1, 'each city must be a non-empty name such as "Austin, TX"')
  .max(MAX_CITY_NAME_LENGTH, `each city must be at most ${MAX_CITY_NAME_LENGTH} characters`);

const yelpInputSchema = z.strictObject({
  source: z.literal('yelp'),
  cities: z
    .array(cityName, 'cities must be a list of city names')
    .min(1, 'cities must name at least one city')
    .max(MAX_CITIES, `cities must name at most ${MAX_CITIES} cities`)
    // The same city twice would only search it twice.
    .transform((cities) => [...new Map(cities.map((city) => [city.toLowerCase(), city])).values()]),
  limit: z
    .number()
    .int('limit must be a whole number')
    .min(1, 'limit must be at least 1 (businesses per city)')
    .max(
      YELP_MAX_RESULTS,
      `limit must be at most ${YELP_MAX_RESULTS} (Yelp serves at most ${YELP_MAX_RESULTS} results per search)`,
    )
    .default(DEFAULT_LIMIT),
  concurrency: concurrency.optional(),
});

const HN_IDS_HINT = 'ids must be a list of positive item ids or a range such as "1-20"';
const hnId = z.number(HN_IDS_HINT).int('ids must be whole numbers').positive('ids must be positive');

/** "1-20" → [1, …, 20]; anything else passes through for the list schema to judge. */
function expandIdRange(value: unknown, context: z.RefinementCtx): unknown {
  if (typeof value !== 'string') return value;
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(value);
  if (!match) return value;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start < 1 || end < start) {
    context.addIssue({
      code: 'custom',
      message: `ids range "${value.trim()}" must go from a positive id up to one at least as large`,
    });
    return z.NEVER;
  }
  // Checked before expanding, so "1-1000000000" is refused without building a billion numbers.
  if (end - start + 1 > MAX_HN_IDS) {
    context.addIssue({
      code: 'custom',
      message: `ids range "${value.trim()}" has ${end - start + 1} ids; at most ${MAX_HN_IDS} per run`,
    });
    return z.NEVER;
  }
  return Array.from({ length: end - start + 1 }, (_, index) => start + index);
}

const hnInputSchema = z.strictObject({
  source: z.literal('hn'),
  ids: z
    .preprocess(
      expandIdRange,
      z
        .array(hnId, HN_IDS_HINT)
        .min(1, 'ids must list at least one item id')
        .max(MAX_HN_IDS, `ids must list at most ${MAX_HN_IDS} ids per run`),
    )
    .transform((ids) => [...new Set(ids)]),
  concurrency: concurrency.optional(),
});

export const scrapeInputSchema = z.discriminatedUnion('source', [yelpInputSchema, hnInputSchema], {
  error: 'source must be "yelp" or "hn"',
});

export type ScrapeInput = z.output<typeof scrapeInputSchema>;
export type ScrapeRequest = z.input<typeof scrapeInputSchema>;

/** The validated input, or a UserError (INVALID_INPUT) whose message names every problem. */
export function parseScrapeInput(input: unknown): ScrapeInput {
  const parsed = scrapeInputSchema.safeParse(input);
  if (!parsed.success) throw new UserError('INVALID_INPUT', describeIssues(parsed.error, 'input'));
  return parsed.data;
}

/**
 * The scrape input inside whatever invoked the function: an EventBridge rule's `input` arrives as the event
 * itself, as does an `sls invoke` payload; an EventBridge event without it carries the input in `detail`;
 * a JSON string is parsed (lib/validation.ts `eventInput`).
 */
export function scrapeInputFromEvent(event: unknown): unknown {
  return eventInput(event).input;
}

/** The validated input of an invocation (see scrapeInputFromEvent), or a UserError (INVALID_INPUT). */
export function parseScrapeEvent(event: unknown): ScrapeInput {
  return parseEventInput(event, parseScrapeInput);
}
