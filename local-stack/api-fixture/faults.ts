/**
 * Faults, decided per request from the seed and the request's sequence number: 5xx answers, 429s, slow answers,
 * malformed bodies and schema-violating records, each the way the real APIs (or the gateways in front of them)
 * produce it.
 */
import { z } from 'zod';
import { describeIssues } from '../../lib/validation.ts';
import { Draws, seedFrom } from './data/random.ts';
import { hnError } from './hn-routes.ts';
import { SEARCH_PATTERN, isJsonObject, type Answer, type Api, type JsonObject } from './routes.ts';
import { yelpError } from './yelp-routes.ts';

export interface FaultOptions {
  /** Probability in [0,1] of answering 5xx (500/502/503) instead of the real answer. */
  serverErrorRate?: number;
  /**
   * Every Nth API request answers 429 with `Retry-After: retryAfterSeconds` (default 1). Counted over all
   * /v3 and /api/v1 requests since the faults were last set (or the server started).
   */
  rateLimitEvery?: number;
  retryAfterSeconds?: number;
  /** Probability of a response delayed by an extra `slowMs` (default 5000), to exceed a client's timeout. */
  slowRate?: number;
  slowMs?: number;
  /** Probability of a 200 whose body is truncated JSON, HTML, or empty. */
  malformedRate?: number;
  /** Probability of a 200 whose JSON parses but violates the schema (a business without id, rating as string, …). */
  invalidRecordRate?: number;
  /** Yelp business ids (or aliases) / HN item ids whose details request always answers 5xx. */
  failIds?: string[];
  /** Yelp business ids (or aliases) / HN item ids whose details request always answers a malformed 200. */
  malformedIds?: string[];
}

const probability = z.number().min(0).max(1);

/** Also what the CLI's --faults JSON must satisfy. */
export const faultOptionsSchema = z.strictObject({
  serverErrorRate: probability.optional(),
  rateLimitEvery: z.number().int().min(1).optional(),
  retryAfterSeconds: z.number().int().min(0).optional(),
  slowRate: probability.optional(),
  slowMs: z.number().int().min(0).optional(),
  malformedRate: probability.optional(),
  invalidRecordRate: probability.optional(),
  failIds: z.array(z.string()).optional(),
  malformedIds: z.array(z.string()).optional(),
});

export function validFaults(faults: FaultOptions): FaultOptions {
  const parsed = faultOptionsSchema.safeParse(faults);
  if (!parsed.success) throw new RangeError(`invalid fault options: ${describeIssues(parsed.error, 'faults')}`);
  return parsed.data;
}

export const DEFAULT_SLOW_MS = 5000;
export const DEFAULT_RETRY_AFTER_SECONDS = 1;
const SERVER_ERROR_STATUSES = [500, 502, 503] as const;
export type ServerErrorStatus = (typeof SERVER_ERROR_STATUSES)[number];

/**
 * The random fault decisions for one request, drawn in a fixed order from a stream seeded by the fixture's
 * seed and the request's sequence number: the same seed and request order give the same decisions, whatever
 * the options (changing a rate changes which draws pass, not the draws).
 */
export interface FaultDraws {
  serverError: number;
  serverErrorStatus: ServerErrorStatus;
  slow: number;
  malformed: number;
  invalidRecord: number;
  /** For choosing how to corrupt a body; used after the fixed draws above. */
  rest: Draws;
}

export function faultDraws(seed: number, requestNumber: number): FaultDraws {
  const draws = new Draws(seedFrom(seed, 'faults', requestNumber));
  return {
    serverError: draws.next(),
    serverErrorStatus: draws.pick(SERVER_ERROR_STATUSES),
    slow: draws.next(),
    malformed: draws.next(),
    invalidRecord: draws.next(),
    rest: draws,
  };
}

/** A Yelp business that breaks the schema in one of the ways a real feed has been seen to. */
function corruptBusiness(business: JsonObject, draws: Draws): void {
  switch (draws.int(0, 3)) {
    case 0:
      delete business.id;
      break;
    case 1:
      business.rating = String(business.rating);
      break;
    case 2:
      delete business.name;
      break;
    default:
      if (isJsonObject(business.coordinates)) business.coordinates.latitude = String(business.coordinates.latitude);
      else delete business.id;
  }
}

function corruptHnItem(item: JsonObject, draws: Draws): void {
  switch (draws.int(0, 3)) {
    case 0:
      delete item.id;
      break;
    case 1:
      item.created_at_i = String(item.created_at_i);
      break;
    case 2:
      item.children = null;
      break;
    default:
      delete item.type;
  }
}

/** The same answer with one record made schema-invalid (the answer is a fresh copy; the dataset is untouched). */
export function corruptAnswer(api: Api, routePattern: string, body: unknown, draws: Draws): unknown {
  const copy: unknown = structuredClone(body);
  if (!isJsonObject(copy)) return copy;
  if (api === 'hn') {
    corruptHnItem(copy, draws);
  } else if (routePattern === SEARCH_PATTERN) {
    const businesses = Array.isArray(copy.businesses) ? copy.businesses : [];
    const victim: unknown = businesses[draws.int(0, Math.max(0, businesses.length - 1))];
    if (isJsonObject(victim)) corruptBusiness(victim, draws);
    else copy.total = String(copy.total); // an empty page: break the envelope instead
  } else {
    corruptBusiness(copy, draws);
  }
  return copy;
}

/** A 200 body that is not JSON: cut off mid-document, a proxy's HTML page, or empty. */
export function malformedBody(json: string, draws: Draws): { body: string; contentType: string } {
  switch (draws.int(0, 2)) {
    case 0:
      // A strict prefix of a JSON object never parses: its closing brace is missing.
      return { body: json.slice(0, draws.int(1, Math.max(1, json.length - 1))), contentType: 'application/json' };
    case 1:
      return {
        body: '<!DOCTYPE html><html><head><title>Service Temporarily Unavailable</title></head><body><h1>Please try again later</h1></body></html>',
        contentType: 'text/html; charset=utf-8',
      };
    default:
      return { body: '', contentType: 'application/json' };
  }
}

export function serverErrorAnswer(
  api: Api,
  status: ServerErrorStatus,
): { status: number; body: string; contentType: string } {
  if (status === 502) {
    // Gateways answer 502 with their own HTML, not the API's JSON: a client must not assume a JSON error body.
    return {
      status,
      body: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>',
      contentType: 'text/html; charset=utf-8',
    };
  }
  const answer =
    api === 'yelp'
      ? status === 500
        ? yelpError(500, 'INTERNAL_ERROR', 'Something went wrong internally, please try your request again')
        : yelpError(503, 'SERVICE_UNAVAILABLE', 'The service is temporarily unavailable, please try your request again')
      : hnError(status, status === 500 ? 'Internal Server Error' : 'Service Unavailable');
  return { status, body: JSON.stringify(answer.body), contentType: 'application/json' };
}

export function rateLimitAnswer(api: Api): Answer {
  return api === 'yelp'
    ? yelpError(
        429,
        'TOO_MANY_REQUESTS_PER_SECOND',
        'You have exceeded the queries-per-second limit for this endpoint. Try reducing the rate at which you make queries.',
      )
    : hnError(429, 'Too Many Requests');
}
