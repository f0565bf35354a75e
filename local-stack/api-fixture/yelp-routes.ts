/**
 * The Yelp Fusion v3 routes: business search (by location only) and business details (by id or alias), with the
 * error codes and messages the real API sends.
 */
import { FIXTURE_CITIES } from './data/yelp-cities.ts';
import type { YelpDataset } from './data/yelp-data.ts';
import type { Answer, JsonObject } from './routes.ts';
import type { YelpSearchResponse } from './types.ts';

/** Yelp's largest page. */
export const YELP_MAX_LIMIT = 50;
/** Yelp serves at most this many results of one search: offset + limit must not exceed it. */
export const YELP_MAX_RESULTS = 1000;

export function yelpError(status: number, code: string, description: string, extra: JsonObject = {}): Answer {
  return { status, body: { error: { code, description, ...extra } } };
}

/** Yelp's JSON-schema style messages: `51 is greater than the maximum of 50`, with `field` and `instance`. */
function integerParam(
  params: URLSearchParams,
  field: string,
  fallback: number,
  min: number,
  max: number,
): number | Answer {
  const raw = params.get(field);
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw))
    return yelpError(400, 'VALIDATION_ERROR', `'${raw}' is not of type 'integer'`, { field, instance: raw });
  const value = Number(raw);
  if (value < min)
    return yelpError(400, 'VALIDATION_ERROR', `${value} is less than the minimum of ${min}`, {
      field,
      instance: value,
    });
  if (value > max)
    return yelpError(400, 'VALIDATION_ERROR', `${value} is greater than the maximum of ${max}`, {
      field,
      instance: value,
    });
  return value;
}

export function answerSearch(dataset: YelpDataset, params: URLSearchParams): Answer {
  const location = params.get('location');
  if (location === null || location.trim() === '') {
    if (params.has('latitude') || params.has('longitude')) {
      return yelpError(
        400,
        'VALIDATION_ERROR',
        `This local fixture searches by location only; use one of: ${FIXTURE_CITIES.join('; ')}`,
        { field: 'location' },
      );
    }
    return yelpError(400, 'VALIDATION_ERROR', 'Please specify a location or a latitude and longitude');
  }
  const limit = integerParam(params, 'limit', 20, 0, YELP_MAX_LIMIT);
  if (typeof limit !== 'number') return limit;
  const offset = integerParam(params, 'offset', 0, 0, YELP_MAX_RESULTS);
  if (typeof offset !== 'number') return offset;
  if (offset + limit > YELP_MAX_RESULTS) {
    return yelpError(
      400,
      'VALIDATION_ERROR',
      `Too many results requested, limit+offset must be <= ${YELP_MAX_RESULTS}.`,
    );
  }
  const city = dataset.city(location);
  if (!city)
    return yelpError(400, 'LOCATION_NOT_FOUND', 'Could not execute search, try specifying a more exact location.');
  const body: YelpSearchResponse = {
    businesses: city.businesses.slice(offset, offset + limit).map((business) => business.searchEntry),
    total: city.businesses.length,
    region: { center: { longitude: city.profile.longitude, latitude: city.profile.latitude } },
  };
  return { status: 200, body };
}

export function answerBusiness(dataset: YelpDataset, idOrAlias: string): Answer {
  const business = dataset.business(idOrAlias);
  if (!business) return yelpError(404, 'BUSINESS_NOT_FOUND', 'The requested business could not be found.');
  return { status: 200, body: business.details, resolvedId: business.details.id };
}
