/** Which API and route a path belongs to, and the shape of an answer before faults rewrite it. */
import { hnError } from './hn-routes.ts';
import { yelpError } from './yelp-routes.ts';

export type Api = 'yelp' | 'hn';

export const SEARCH_PATTERN = '/v3/businesses/search';
export const BUSINESS_PATTERN = '/v3/businesses/{id}';
export const ITEM_PATTERN = '/api/v1/items/{id}';

export interface Route {
  /** Undefined for paths outside both APIs (no faults, no key). */
  api: Api | undefined;
  /** The stats key. */
  pattern: string;
  /** The id in the path, for failIds/malformedIds. */
  id?: string;
}

export function matchRoute(pathname: string): Route {
  if (pathname === SEARCH_PATTERN) return { api: 'yelp', pattern: SEARCH_PATTERN };
  const business = /^\/v3\/businesses\/([^/]+)$/.exec(pathname);
  if (business?.[1] !== undefined) return { api: 'yelp', pattern: BUSINESS_PATTERN, id: safeDecode(business[1]) };
  if (pathname.startsWith('/v3/')) return { api: 'yelp', pattern: '/v3/* (unknown)' };
  const item = /^\/api\/v1\/items\/([^/]+)$/.exec(pathname);
  if (item?.[1] !== undefined) return { api: 'hn', pattern: ITEM_PATTERN, id: safeDecode(item[1]) };
  if (pathname.startsWith('/api/v1/')) return { api: 'hn', pattern: '/api/v1/* (unknown)' };
  return { api: undefined, pattern: 'other' };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** An answer before faults that rewrite bodies are applied. */
export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** The business id a details request resolved to (its alias may have been asked for). */
  resolvedId?: string;
}

export type JsonObject = { [key: string]: unknown };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function notFoundAnswer(route: Route, pathname: string): Answer {
  if (route.api === 'yelp') return yelpError(404, 'NOT_FOUND', 'Resource could not be found.');
  if (route.api === 'hn') return hnError(404, 'Not Found');
  return {
    status: 404,
    body: {
      error: {
        code: 'NOT_FOUND',
        description: `No route for ${pathname}. This fixture serves /v3/businesses/search, /v3/businesses/{id}, /api/v1/items/{id} and /health.`,
      },
    },
  };
}
