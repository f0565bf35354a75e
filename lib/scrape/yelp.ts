/**
 * Yelp Fusion v3: what we require of its answers, its URLs, and paging a city's search results into
 * business ids. Only the fields we keep are required; everything else Yelp sends is kept as it came.
 */
import { z } from 'zod';
import { isRunStop, type JsonFailure, type RequestPool } from './http.ts';
import { YELP_MAX_RESULTS } from './input.ts';

export const DEFAULT_YELP_API_BASE_URL = 'https://api.yelp.com/v3';
/** Yelp's largest page. */
export const YELP_PAGE_SIZE = 50;

/** The page envelope; each hit is checked on its own so one broken hit does not discard its page. */
export const yelpSearchPageSchema = z.looseObject({
  businesses: z.array(z.unknown()),
  total: z.number().int().min(0),
});

/** From a search hit we need only the id: the details request fetches (and checks) the rest. */
export const yelpSearchHitSchema = z.looseObject({ id: z.string().min(1) });

export const yelpBusinessSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().min(1),
  url: z.string(),
  rating: z.number().min(0).max(5),
  review_count: z.number().int().min(0),
  categories: z.array(z.looseObject({ alias: z.string(), title: z.string() })),
  location: z.looseObject({
    city: z.string(),
    state: z.string(),
    zip_code: z.string(),
    country: z.string(),
    display_address: z.array(z.string()),
  }),
  // Yelp answers null coordinates for some businesses; a string or a missing field is still an error.
  coordinates: z.looseObject({ latitude: z.number().nullable(), longitude: z.number().nullable() }),
});

export type YelpBusiness = z.infer<typeof yelpBusinessSchema>;

const trimBase = (baseUrl: string): string => baseUrl.replace(/\/+$/, '');

export function yelpSearchUrl(baseUrl: string, city: string, offset: number, limit: number): string {
  const query = new URLSearchParams({ location: city, limit: String(limit), offset: String(offset) });
  return `${trimBase(baseUrl)}/businesses/search?${query}`;
}

export function yelpBusinessUrl(baseUrl: string, id: string): string {
  return `${trimBase(baseUrl)}/businesses/${encodeURIComponent(id)}`;
}

export function yelpHeaders(apiKey: string): Record<string, string> {
  return { authorization: `Bearer ${apiKey}` };
}

/** The pages after the first: `[offset, limit]` pairs covering [firstPageSize, wanted), none past Yelp's cap. */
export function remainingPages(wanted: number, firstPageSize: number): Array<[offset: number, limit: number]> {
  const end = Math.min(wanted, YELP_MAX_RESULTS);
  const pages: Array<[number, number]> = [];
  for (let offset = firstPageSize; offset < end; offset += YELP_PAGE_SIZE)
    pages.push([offset, Math.min(YELP_PAGE_SIZE, end - offset)]);
  return pages;
}

export interface CitySearch {
  /** In Yelp's order, without repeats, at most `limit`. */
  ids: string[];
  /** Hits that broke the schema, and a failed search (LOCATION_NOT_FOUND, …), as `{id: "city:<name>", reason}`. */
  failed: Array<{ id: string; reason: string }>;
  /** Set when the run stopped before every page was read: the city's search is incomplete. */
  stopped?: JsonFailure;
}

/**
 * The first `limit` business ids Yelp returns for `city`, paging by at most 50 until `limit`, the end of the
 * results (`total`), or Yelp's cap of 1000.
 */
export async function searchYelpCity(
  pool: RequestPool,
  { baseUrl, apiKey }: { baseUrl: string; apiKey: string },
  city: string,
  limit: number,
): Promise<CitySearch> {
  const cityId = `city:${city}`;
  const failed: CitySearch['failed'] = [];
  let stopped: JsonFailure | undefined;
  const invalid = (error: z.ZodError): string => z.prettifyError(error).replaceAll('\n', ' ');

  /** One page's ids in Yelp's order, and the total; undefined when the page could not be read (recorded). */
  const readPage = async (offset: number, pageLimit: number): Promise<{ ids: string[]; total: number } | undefined> => {
    const response = await pool.getJson(yelpSearchUrl(baseUrl, city, offset, pageLimit), {
      headers: yelpHeaders(apiKey),
    });
    if (!response.ok) {
      if (isRunStop(response.kind)) stopped ??= response;
      else failed.push({ id: cityId, reason: `search at offset ${offset}: ${response.reason}` });
      return undefined;
    }
    const page = yelpSearchPageSchema.safeParse(response.body);
    if (!page.success) {
      failed.push({ id: cityId, reason: `search at offset ${offset}: invalid response: ${invalid(page.error)}` });
      return undefined;
    }
    const ids: string[] = [];
    page.data.businesses.forEach((hit, index) => {
      const parsed = yelpSearchHitSchema.safeParse(hit);
      if (parsed.success) ids.push(parsed.data.id);
      else failed.push({ id: cityId, reason: `search result ${offset + index}: invalid: ${invalid(parsed.error)}` });
    });
    return { ids, total: page.data.total };
  };

  const firstLimit = Math.min(YELP_PAGE_SIZE, limit);
  const first = await readPage(0, firstLimit);
  const pages = [first];
  // The first page gives the total, so the other pages can be requested together.
  if (first !== undefined && first.total > firstLimit) {
    pages.push(
      ...(await Promise.all(
        remainingPages(Math.min(limit, first.total), firstLimit).map(([offset, size]) => readPage(offset, size)),
      )),
    );
  }
  const ids = [...new Set(pages.flatMap((page) => page?.ids ?? []))].slice(0, limit);
  return { ids, failed, ...(stopped === undefined ? {} : { stopped }) };
}
