/**
 * A local stand-in for the two HTTP APIs the scraper calls — Yelp Fusion v3 (business search and business
 * details) and Hacker News through Algolia (items) — with deterministic data and injectable faults, so the
 * scraper, its tests and its benchmarks meet the failures the real services produce, repeatably and offline.
 *
 * Routes (plain `node:http`, JSON bodies, field names and error bodies as the real APIs send them):
 *   GET /v3/businesses/search?location=<city>&limit=<0..50, default 20>&offset=<0..1000, default 0>
 *       → {businesses: [...], total, region: {center: {longitude, latitude}}}. Other Yelp parameters (term,
 *       categories, sort_by, …) are accepted and ignored; searching by latitude/longitude is not supported.
 *   GET /v3/businesses/{id-or-alias}  → business details (Yelp accepts the alias too, so does this).
 *   GET /api/v1/items/{id}            → an HN item with its whole reply tree in `children`.
 *   GET /health                       → {ok: true}; never delayed, never faulted, not counted in stats.
 *   GET /__fixture/stats              → ApiFixtureStats; POST /__fixture/stats/reset zeroes them. Like /health,
 *       never delayed, faulted or counted: the control surface a benchmark uses when the fixture runs in a
 *       process of its own (a path no real API serves, so a client can never hit it by accident).
 *   anything else                     → 404 JSON.
 * A request a browser sends for a page (Origin, Sec-Fetch-Site cross-site/same-site, a Host that is not this
 * server's loopback name) gets 403 before any route: the fixture runs on the developer's laptop.
 *
 * For a client: YELP_API_BASE_URL = `yelpBaseUrl` = `${baseUrl}/v3` (as https://api.yelp.com/v3; the client
 * appends `/businesses/search`), the HN base = `hnBaseUrl` = `${baseUrl}/api/v1` (as https://hn.algolia.com/api/v1).
 * Yelp routes need `Authorization: Bearer <apiKey>` (default `local-yelp-key`): none → 401 TOKEN_MISSING,
 * another key → 401 TOKEN_INVALID, the codes the real API uses. HN routes need no key, as on Algolia.
 *
 * Data is a pure function of the seed: each city in FIXTURE_CITIES has FIXTURE_BUSINESS_COUNTS[city]
 * businesses (240, except New York with 1,200) with stable 22-character ids, in a fixed order. As on Yelp,
 * `total` is the true count but only the first 1,000 results can be paged to (offset + limit ≤ 1000), so
 * New York is the city that shows whether a client stops at the cap. HN items 1..FIXTURE_HN_ITEM_COUNT
 * exist: stories, jobs and comment trees, with timestamps that grow with the id.
 *
 * Faults (FaultOptions) are decided per request from the seed and the request's sequence number, so the same
 * seed and the same request order give the same faults. Precedence for /v3 and /api/v1 requests:
 * rate limit (429 with Retry-After) → method (405) → Yelp key (401) → failIds (5xx) → serverErrorRate (5xx) →
 * the real answer; a 200 may then be replaced by a malformed body (malformedIds, malformedRate) or a
 * schema-violating one (invalidRecordRate); slowRate delays whatever answer was chosen. Every faulted
 * response carries `x-fixture-fault: rate-limit|server-error|malformed|invalid-record|slow` — a test aid the
 * real APIs do not send, so a client must never depend on it.
 *
 * Run directly, it is a CLI (see `main` at the bottom) that prints one JSON line when ready on stdout;
 * logs go to stderr. SIGTERM/SIGINT stop it.
 */
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { describeIssues } from '../lib/validation.ts';
import { refuseBrowserRequest } from './shared/request-guard.ts';
import { integerOption, listenOnLoopback, portOption, runServerMain } from './shared/server-process.ts';

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

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

export interface ApiFixtureOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Added to every response (except /health). Default 0. */
  latencyMs?: number;
  /** The Yelp key the fixture accepts. Default 'local-yelp-key'. */
  apiKey?: string;
  /** Seeds the data and the fault decisions. Default 1. */
  seed?: number;
  faults?: FaultOptions;
  /** No request log on stderr. */
  silent?: boolean;
}

export interface ApiFixtureStats {
  /** Requests answered or being answered, /health excluded. */
  requests: number;
  /** By HTTP status; a request whose client left before the answer was sent counts as "aborted". */
  byStatus: Record<string, number>;
  /**
   * By route pattern: "/v3/businesses/search", "/v3/businesses/{id}", "/api/v1/items/{id}", "/v3/* (unknown)",
   * "/api/v1/* (unknown)", "other".
   */
  byPath: Record<string, number>;
  /** The most requests in progress at the same time (arrival until the answer is written or the client left). */
  maxConcurrent: number;
}

export interface RunningApiFixture {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  /** What a Yelp client uses as its base (YELP_API_BASE_URL): `${baseUrl}/v3`. */
  yelpBaseUrl: string;
  /** What an HN Algolia client uses as its base: `${baseUrl}/api/v1`. */
  hnBaseUrl: string;
  /** The Bearer token Yelp routes accept. */
  apiKey: string;
  stats(): ApiFixtureStats;
  /** Zeroes the counters; maxConcurrent restarts from the requests in progress now. */
  resetStats(): void;
  /** Replaces the fault options (not merged) and restarts the rateLimitEvery count. */
  setFaults(faults: FaultOptions): void;
  setLatency(ms: number): void;
  /** Stops listening, cuts open connections and cancels pending delays. */
  close(): Promise<void>;
}

export const DEFAULT_API_KEY = 'local-yelp-key';
export const DEFAULT_SEED = 1;
/** Yelp's largest page. */
export const YELP_MAX_LIMIT = 50;
/** Yelp serves at most this many results of one search: offset + limit must not exceed it. */
export const YELP_MAX_RESULTS = 1000;
/** HN items 1..this exist. */
export const FIXTURE_HN_ITEM_COUNT = 100_000;

// ---------------------------------------------------------------------------------------------------------
// Response types (the parts of the real APIs this fixture imitates)
// ---------------------------------------------------------------------------------------------------------

export interface YelpCategory {
  alias: string;
  title: string;
}

export interface YelpCoordinates {
  latitude: number;
  longitude: number;
}

export interface YelpSearchLocation {
  address1: string;
  address2: string | null;
  address3: string | null;
  city: string;
  zip_code: string;
  country: string;
  state: string;
  display_address: string[];
}

export interface YelpDetailsLocation extends YelpSearchLocation {
  cross_streets: string;
}

export interface YelpOpenPeriod {
  is_overnight: boolean;
  /** "HHMM", 24-hour clock. */
  start: string;
  end: string;
  /** 0 = Monday … 6 = Sunday. */
  day: number;
}

export interface YelpHours {
  open: YelpOpenPeriod[];
  hours_type: 'REGULAR';
  is_open_now: boolean;
}

export interface YelpSearchBusiness {
  id: string;
  alias: string;
  name: string;
  image_url: string;
  is_closed: boolean;
  url: string;
  review_count: number;
  categories: YelpCategory[];
  rating: number;
  coordinates: YelpCoordinates;
  transactions: string[];
  /** Absent when Yelp does not know the price level. */
  price?: string;
  location: YelpSearchLocation;
  phone: string;
  display_phone: string;
  /** Meters from the search's region center. */
  distance: number;
}

export interface YelpBusinessDetails {
  id: string;
  alias: string;
  name: string;
  image_url: string;
  is_claimed: boolean;
  is_closed: boolean;
  url: string;
  phone: string;
  display_phone: string;
  review_count: number;
  categories: YelpCategory[];
  rating: number;
  location: YelpDetailsLocation;
  coordinates: YelpCoordinates;
  photos: string[];
  price?: string;
  /** Absent for businesses without published hours. */
  hours?: YelpHours[];
  transactions: string[];
}

export interface YelpSearchResponse {
  businesses: YelpSearchBusiness[];
  total: number;
  region: { center: { longitude: number; latitude: number } };
}

export interface HnAlgoliaItem {
  id: number;
  /** ISO 8601 with milliseconds, e.g. "2006-10-09T18:21:51.000Z". */
  created_at: string;
  /** Unix seconds. */
  created_at_i: number;
  type: 'story' | 'comment' | 'job';
  author: string;
  title: string | null;
  url: string | null;
  /** HTML, as HN stores it (entities escaped, paragraphs separated by <p>). */
  text: string | null;
  points: number | null;
  parent_id: number | null;
  story_id: number;
  options: number[];
  children: HnAlgoliaItem[];
}

// ---------------------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------------------

/** FNV-1a over the parts plus a murmur3 finalizer: any change to any part gives an unrelated 32-bit seed. */
function seedFrom(...parts: readonly (string | number)[]): number {
  const text = parts.join('\u0000');
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** A mulberry32 stream with the helpers the generators need. */
class Draws {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// ---------------------------------------------------------------------------------------------------------
// Yelp data
// ---------------------------------------------------------------------------------------------------------

interface CityProfile {
  /** How FIXTURE_CITIES names it, and what `location=` must match (case-insensitively). */
  location: string;
  city: string;
  state: string;
  latitude: number;
  longitude: number;
  zipPrefix: string;
  areaCode: string;
  streets: readonly string[];
  crossStreets: readonly string[];
  businessCount: number;
}

const STANDARD_CITY_SIZE = 240;

const CITY_PROFILES: readonly CityProfile[] = [
  {
    location: 'San Francisco, CA', city: 'San Francisco', state: 'CA', latitude: 37.7749, longitude: -122.4194,
    zipPrefix: '941', areaCode: '415', streets: ['Market St', 'Valencia St', 'Mission St', 'Geary Blvd', 'Irving St', 'Columbus Ave'],
    crossStreets: ['16th St', '24th St', 'Polk St', 'Divisadero St'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    // More than Yelp will page through, so a client must stop at offset + limit = 1000.
    location: 'New York, NY', city: 'New York', state: 'NY', latitude: 40.7128, longitude: -74.006,
    zipPrefix: '100', areaCode: '212', streets: ['Broadway', '2nd Ave', 'Bleecker St', 'Lexington Ave', 'Canal St', 'W 14th St'],
    crossStreets: ['Houston St', 'E 9th St', 'Bowery', 'Spring St'], businessCount: 1200,
  },
  {
    location: 'Chicago, IL', city: 'Chicago', state: 'IL', latitude: 41.8781, longitude: -87.6298,
    zipPrefix: '606', areaCode: '312', streets: ['N Clark St', 'W Randolph St', 'N Milwaukee Ave', 'S Halsted St', 'W Division St'],
    crossStreets: ['Wabash Ave', 'Lake St', 'W Madison St'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Austin, TX', city: 'Austin', state: 'TX', latitude: 30.2672, longitude: -97.7431,
    zipPrefix: '787', areaCode: '512', streets: ['S Congress Ave', 'E 6th St', 'S Lamar Blvd', 'Guadalupe St', 'E Cesar Chavez St'],
    crossStreets: ['Barton Springs Rd', 'E 7th St', 'W 2nd St'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Seattle, WA', city: 'Seattle', state: 'WA', latitude: 47.6062, longitude: -122.3321,
    zipPrefix: '981', areaCode: '206', streets: ['Pike St', '1st Ave', 'Broadway E', 'NW Market St', 'Rainier Ave S'],
    crossStreets: ['Pine St', 'E Olive Way', 'Ballard Ave NW'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Boston, MA', city: 'Boston', state: 'MA', latitude: 42.3601, longitude: -71.0589,
    zipPrefix: '021', areaCode: '617', streets: ['Newbury St', 'Hanover St', 'Boylston St', 'Tremont St', 'Washington St'],
    crossStreets: ['Commonwealth Ave', 'Summer St', 'Charles St'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Denver, CO', city: 'Denver', state: 'CO', latitude: 39.7392, longitude: -104.9903,
    zipPrefix: '802', areaCode: '303', streets: ['Larimer St', 'E Colfax Ave', 'S Broadway', 'Tennyson St', 'Blake St'],
    crossStreets: ['15th St', 'Wazee St', 'E 17th Ave'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Portland, OR', city: 'Portland', state: 'OR', latitude: 45.5152, longitude: -122.6784,
    zipPrefix: '972', areaCode: '503', streets: ['SE Division St', 'NW 23rd Ave', 'N Mississippi Ave', 'SE Hawthorne Blvd', 'NE Alberta St'],
    crossStreets: ['SE 30th Ave', 'NW Glisan St', 'N Skidmore St'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Los Angeles, CA', city: 'Los Angeles', state: 'CA', latitude: 34.0522, longitude: -118.2437,
    zipPrefix: '900', areaCode: '213', streets: ['Sunset Blvd', 'W 3rd St', 'S Spring St', 'Melrose Ave', 'Abbot Kinney Blvd'],
    crossStreets: ['N Vermont Ave', 'S Broadway', 'Fairfax Ave'], businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Miami, FL', city: 'Miami', state: 'FL', latitude: 25.7617, longitude: -80.1918,
    zipPrefix: '331', areaCode: '305', streets: ['SW 8th St', 'Collins Ave', 'NW 2nd Ave', 'Biscayne Blvd', 'Ocean Dr'],
    crossStreets: ['SW 15th Ave', 'NW 25th St', 'Lincoln Rd'], businessCount: STANDARD_CITY_SIZE,
  },
];

/** The `location=` values the fixture knows, e.g. "San Francisco, CA". The bare city name matches too. */
export const FIXTURE_CITIES: readonly string[] = Object.freeze(CITY_PROFILES.map((profile) => profile.location));

/** How many businesses each city has (what `total` reports; at most YELP_MAX_RESULTS of them can be paged to). */
export const FIXTURE_BUSINESS_COUNTS: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(CITY_PROFILES.map((profile) => [profile.location, profile.businessCount])),
);

interface BusinessKind {
  category: YelpCategory;
  nouns: readonly string[];
  transactions: readonly string[];
  /** Bars close after midnight; others close the same day. */
  lateNight: boolean;
}

const BUSINESS_KINDS: readonly BusinessKind[] = [
  { category: { alias: 'pizza', title: 'Pizza' }, nouns: ['Pizza', 'Pizzeria', 'Slice Shop'], transactions: ['delivery', 'pickup'], lateNight: false },
  { category: { alias: 'sushi', title: 'Sushi Bars' }, nouns: ['Sushi', 'Sushi Bar', 'Omakase'], transactions: ['pickup', 'restaurant_reservation'], lateNight: false },
  { category: { alias: 'coffee', title: 'Coffee & Tea' }, nouns: ['Coffee', 'Café', 'Roasters'], transactions: ['pickup'], lateNight: false },
  { category: { alias: 'mexican', title: 'Mexican' }, nouns: ['Taqueria', 'Cantina', 'Tacos'], transactions: ['delivery', 'pickup'], lateNight: false },
  { category: { alias: 'burgers', title: 'Burgers' }, nouns: ['Burgers', 'Burger Bar', 'Grill'], transactions: ['delivery', 'pickup'], lateNight: false },
  { category: { alias: 'bakeries', title: 'Bakeries' }, nouns: ['Bakery', 'Bakehouse', 'Patisserie'], transactions: ['pickup'], lateNight: false },
  { category: { alias: 'thai', title: 'Thai' }, nouns: ['Thai Kitchen', 'Thai', 'Noodle Bar'], transactions: ['delivery', 'pickup'], lateNight: false },
  { category: { alias: 'italian', title: 'Italian' }, nouns: ['Trattoria', 'Osteria', 'Ristorante'], transactions: ['restaurant_reservation'], lateNight: false },
  { category: { alias: 'ramen', title: 'Ramen' }, nouns: ['Ramen', 'Ramen Bar', 'Noodle House'], transactions: ['pickup'], lateNight: false },
  { category: { alias: 'bars', title: 'Bars' }, nouns: ['Tavern', 'Bar', 'Lounge', 'Taproom'], transactions: [], lateNight: true },
  { category: { alias: 'breakfast_brunch', title: 'Breakfast & Brunch' }, nouns: ['Diner', 'Brunch House', 'Griddle'], transactions: ['delivery'], lateNight: false },
  { category: { alias: 'seafood', title: 'Seafood' }, nouns: ['Oyster Bar', 'Fish House', 'Crab Shack'], transactions: ['restaurant_reservation'], lateNight: false },
  { category: { alias: 'indpak', title: 'Indian' }, nouns: ['Curry House', 'Tandoor', 'Masala Kitchen'], transactions: ['delivery', 'pickup'], lateNight: false },
  { category: { alias: 'chinese', title: 'Chinese' }, nouns: ['Dumpling House', 'Noodle House', 'Kitchen'], transactions: ['delivery', 'pickup'], lateNight: false },
  { category: { alias: 'vegan', title: 'Vegan' }, nouns: ['Greens', 'Plant Kitchen', 'Garden'], transactions: ['delivery', 'pickup'], lateNight: false },
];

const SECONDARY_CATEGORIES: readonly YelpCategory[] = [
  { alias: 'cocktailbars', title: 'Cocktail Bars' },
  { alias: 'newamerican', title: 'New American' },
  { alias: 'wine_bars', title: 'Wine Bars' },
  { alias: 'desserts', title: 'Desserts' },
  { alias: 'salad', title: 'Salad' },
  { alias: 'sandwiches', title: 'Sandwiches' },
];

const NAME_FIRST_WORDS: readonly string[] = [
  'Golden', 'Blue Door', 'Little', 'Lucky', 'Red Lantern', 'North Star', 'Corner', 'Sunset', 'Olive', 'Copper',
  'Maple', 'Harbor', 'Tiny', 'Old Town', 'Velvet', 'Wild', 'Union', 'Juniper', 'Brick & Mortar', "Mama's",
  "Tony's", 'Nonna', 'Saffron', 'Lotus', 'Iron', 'Salt & Pepper', 'Hidden', 'Second Street', 'Bluebird', 'Fig & Thistle',
];

const PRICE_LEVELS: readonly string[] = ['$', '$$', '$$', '$$', '$$$', '$$$', '$$$$'];

/** Lower-case, accents dropped, runs of anything else → one hyphen: how Yelp builds aliases. */
function slugify(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** Great-circle distance in meters. */
function haversineMeters(a: YelpCoordinates, b: YelpCoordinates): number {
  const toRadians = (degrees: number): number => (degrees * Math.PI) / 180;
  const dLat = toRadians(b.latitude - a.latitude);
  const dLon = toRadians(b.longitude - a.longitude);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(toRadians(a.latitude)) * Math.cos(toRadians(b.latitude)) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}

function roundTo(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

function clockTime(hour: number): string {
  return `${String(hour % 24).padStart(2, '0')}00`;
}

function generateHours(draws: Draws, kind: BusinessKind): YelpHours[] | undefined {
  if (draws.chance(0.1)) return undefined;
  const opens = kind.lateNight ? draws.int(15, 18) : draws.int(6, 12);
  const closes = kind.lateNight ? draws.int(24, 26) : draws.int(15, 23);
  const closedDay = draws.chance(0.4) ? draws.int(0, 6) : -1;
  const open: YelpOpenPeriod[] = [];
  for (let day = 0; day < 7; day++) {
    if (day === closedDay) continue;
    open.push({ is_overnight: closes >= 24, start: clockTime(opens), end: clockTime(closes), day });
  }
  // Decided by the seed, not the clock, so two fixtures with one seed answer byte-identical details.
  return [{ open, hours_type: 'REGULAR', is_open_now: draws.chance(0.5) }];
}

interface FixtureBusiness {
  details: YelpBusinessDetails;
  searchEntry: YelpSearchBusiness;
}

function generateBusiness(seed: number, profile: CityProfile, index: number, takenIds: Set<string>, aliasCounts: Map<string, number>): FixtureBusiness {
  const draws = new Draws(seedFrom(seed, 'yelp-business', profile.location, index));
  let id = draws.chars(ID_ALPHABET, 22);
  // 64^22 ids make a repeat practically impossible, but a duplicate id would silently shadow a business.
  while (takenIds.has(id)) id = draws.chars(ID_ALPHABET, 22);
  takenIds.add(id);

  const kind = draws.pick(BUSINESS_KINDS);
  const name = `${draws.chance(0.15) ? 'The ' : ''}${draws.pick(NAME_FIRST_WORDS)} ${draws.pick(kind.nouns)}`;
  const baseAlias = `${slugify(name)}-${slugify(profile.city)}`;
  const aliasCount = (aliasCounts.get(baseAlias) ?? 0) + 1;
  aliasCounts.set(baseAlias, aliasCount);
  const alias = aliasCount === 1 ? baseAlias : `${baseAlias}-${aliasCount}`;

  const categories = [kind.category];
  if (draws.chance(0.35)) {
    const secondary = draws.pick(SECONDARY_CATEGORIES);
    if (secondary.alias !== kind.category.alias) categories.push(secondary);
  }
  const rating = draws.pick([2.5, 3, 3.5, 3.5, 4, 4, 4, 4.5, 4.5, 5]);
  // Review counts are long-tailed: most places have a few dozen, a few have thousands.
  const reviewCount = Math.floor(Math.exp(draws.next() * 8));
  const coordinates: YelpCoordinates = {
    latitude: roundTo(profile.latitude + (draws.next() - 0.5) * 0.12, 7),
    longitude: roundTo(profile.longitude + (draws.next() - 0.5) * 0.12, 7),
  };
  const address1 = `${draws.int(1, 4999)} ${draws.pick(profile.streets)}`;
  const address2 = draws.chance(0.12) ? `Ste ${draws.int(100, 900)}` : draws.chance(0.5) ? '' : null;
  const address3 = draws.chance(0.5) ? '' : null;
  const zipCode = `${profile.zipPrefix}${String(draws.int(1, 99)).padStart(2, '0')}`;
  const displayAddress = [address1, ...(address2 ? [address2] : []), `${profile.city}, ${profile.state} ${zipCode}`];
  const lineNumber = String(draws.int(100, 9999)).padStart(4, '0');
  const hasPhone = !draws.chance(0.08);
  const phone = hasPhone ? `+1${profile.areaCode}555${lineNumber}` : '';
  const displayPhone = hasPhone ? `(${profile.areaCode}) 555-${lineNumber}` : '';
  const price = draws.chance(0.15) ? undefined : draws.pick(PRICE_LEVELS);
  const transactions = kind.transactions.filter(() => draws.chance(0.6));
  const isClosed = draws.chance(0.03);
  const hasImage = !draws.chance(0.05);
  const photoIds = [draws.chars(ID_ALPHABET, 22), draws.chars(ID_ALPHABET, 22), draws.chars(ID_ALPHABET, 22)];
  const photoUrl = (photoId: string): string => `https://s3-media${draws.int(1, 4)}.fl.yelpcdn.com/bphoto/${photoId}/o.jpg`;
  const photos = hasImage ? photoIds.slice(0, draws.int(1, 3)).map(photoUrl) : [];
  const imageUrl = photos[0] ?? '';
  const url = `https://www.yelp.com/biz/${alias}?adjust_creative=local-fixture&utm_campaign=yelp_api_v3&utm_medium=api_v3_business_search&utm_source=local-fixture`;
  const crossStreets = draws.chance(0.6) ? `${draws.pick(profile.crossStreets)} & ${draws.pick(profile.crossStreets)}` : '';
  const hours = generateHours(draws, kind);
  const isClaimed = draws.chance(0.7);

  const location: YelpSearchLocation = {
    address1,
    address2,
    address3,
    city: profile.city,
    zip_code: zipCode,
    country: 'US',
    state: profile.state,
    display_address: displayAddress,
  };
  const details: YelpBusinessDetails = {
    id,
    alias,
    name,
    image_url: imageUrl,
    is_claimed: isClaimed,
    is_closed: isClosed,
    url,
    phone,
    display_phone: displayPhone,
    review_count: reviewCount,
    categories,
    rating,
    location: { ...location, cross_streets: crossStreets },
    coordinates,
    photos,
    ...(price === undefined ? {} : { price }),
    ...(hours === undefined ? {} : { hours }),
    transactions,
  };
  const searchEntry: YelpSearchBusiness = {
    id,
    alias,
    name,
    image_url: imageUrl,
    is_closed: isClosed,
    url,
    review_count: reviewCount,
    categories,
    rating,
    coordinates,
    transactions,
    ...(price === undefined ? {} : { price }),
    location,
    phone,
    display_phone: displayPhone,
    distance: roundTo(haversineMeters({ latitude: profile.latitude, longitude: profile.longitude }, coordinates), 4),
  };
  return { details, searchEntry };
}

/** "  san FRANCISCO ,  ca " → "san francisco, ca". */
function normalizeLocation(location: string): string {
  return location.trim().toLowerCase().replace(/\s+/g, ' ').replace(/\s*,\s*/g, ', ');
}

class YelpDataset {
  private readonly cities = new Map<string, { profile: CityProfile; businesses: FixtureBusiness[] }>();
  private readonly byIdOrAlias = new Map<string, FixtureBusiness>();

  constructor(seed: number) {
    const takenIds = new Set<string>();
    for (const profile of CITY_PROFILES) {
      const aliasCounts = new Map<string, number>();
      const businesses: FixtureBusiness[] = [];
      for (let index = 0; index < profile.businessCount; index++) {
        const business = generateBusiness(seed, profile, index, takenIds, aliasCounts);
        businesses.push(business);
        this.byIdOrAlias.set(business.details.id, business);
        this.byIdOrAlias.set(business.details.alias, business);
      }
      const city = { profile, businesses };
      this.cities.set(normalizeLocation(profile.location), city);
      this.cities.set(normalizeLocation(profile.city), city);
    }
  }

  city(location: string): { profile: CityProfile; businesses: FixtureBusiness[] } | undefined {
    return this.cities.get(normalizeLocation(location));
  }

  business(idOrAlias: string): FixtureBusiness | undefined {
    return this.byIdOrAlias.get(idOrAlias);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Hacker News data
// ---------------------------------------------------------------------------------------------------------

/**
 * Items are generated in blocks of consecutive ids, each block a run of threads (a story or job followed by
 * its comments), so any one item and its reply tree can be built from its block alone, without generating
 * the items before it.
 */
const HN_BLOCK_SIZE = 40;
/** The real item 1's time (2006-10-09T18:21:51Z); later ids are later, 10 minutes apart on average. */
const HN_FIRST_ITEM_TIME = 1_160_418_111;
const HN_SECONDS_PER_ID = 600;

const HN_USER_WORDS: readonly string[] = ['pg', 'tptacek', 'patio', 'jacques', 'lisper', 'kernel', 'rustacean', 'vim', 'emacs', 'gopher', 'lambda', 'byte', 'cdr', 'nyc', 'hacker', 'throwaway'];
const HN_TOPICS: readonly string[] = ['SQLite', 'Rust', 'Postgres', 'WebAssembly', 'Kubernetes', 'the Linux kernel', 'TypeScript', 'Zig', 'OCaml', 'LLMs', 'Nix', 'Erlang', 'a tiny JIT', 'CRDTs', 'htmx'];
const HN_VERBS: readonly string[] = ['Building', 'Rewriting', 'Scaling', 'Debugging', 'Understanding', 'Benchmarking', 'Shipping', 'Teaching'];
const HN_TITLE_ENDINGS: readonly string[] = ['from scratch', 'at scale', 'the hard way', 'in two weeks', 'for fun and profit', 'without a framework'];
const HN_DOMAINS: readonly string[] = ['example.com', 'blog.example.org', 'github.com/example', 'arxiv.org/abs', 'lwn.net/Articles', 'news.example.net'];
const HN_SENTENCES: readonly string[] = [
  'I don&#x27;t think that follows from the benchmark.',
  'We tried this at work and the tail latency got worse, not better.',
  'The original paper is worth reading: <a href="https:&#x2F;&#x2F;example.com&#x2F;paper.pdf" rel="nofollow">https:&#x2F;&#x2F;example.com&#x2F;paper.pdf</a>',
  'This is the kind of thing that looks simple until you hit the edge cases.',
  'Has anyone measured this on ARM?',
  '<i>Everything</i> is a tradeoff, but here the defaults matter most.',
  'It&#x27;s been my experience that the boring option wins in the long run.',
  'Counterpoint: the migration cost is real and rarely in these write-ups.',
  'Great write-up, thanks for sharing the numbers.',
  'The &quot;zero-cost&quot; part only holds if you never touch the slow path.',
];

type HnNode = Omit<HnAlgoliaItem, 'children'>;

function hnParagraphs(draws: Draws): string {
  const paragraphs: string[] = [];
  const count = draws.int(1, 3);
  for (let p = 0; p < count; p++) {
    // Consecutive sentences from a random start, so a paragraph never repeats itself.
    const start = draws.int(0, HN_SENTENCES.length - 1);
    const length = draws.int(1, 3);
    paragraphs.push(Array.from({ length }, (_, k) => HN_SENTENCES[(start + k) % HN_SENTENCES.length]).join(' '));
  }
  // HN separates paragraphs with a bare <p>, not <p>…</p>.
  return paragraphs.join('<p>');
}

function hnBlock(seed: number, blockIndex: number): HnNode[] {
  const draws = new Draws(seedFrom(seed, 'hn-block', blockIndex));
  const firstId = blockIndex * HN_BLOCK_SIZE + 1;
  const lastId = Math.min(firstId + HN_BLOCK_SIZE - 1, FIXTURE_HN_ITEM_COUNT);
  const nodes: HnNode[] = [];
  let thread: HnNode[] = [];
  for (let id = firstId; id <= lastId; id++) {
    const createdAt = HN_FIRST_ITEM_TIME + (id - 1) * HN_SECONDS_PER_ID + draws.int(0, HN_SECONDS_PER_ID - 1);
    const author = `${draws.pick(HN_USER_WORDS)}${draws.chance(0.6) ? draws.int(1, 999) : ''}`;
    const root = thread[0];
    const startsThread = root === undefined || root.type === 'job' || draws.chance(0.25);
    let node: HnNode;
    if (startsThread) {
      const isJob = draws.chance(0.05);
      const topic = draws.pick(HN_TOPICS);
      const style = draws.int(0, 9);
      const isAsk = !isJob && style === 0;
      const title = isJob
        ? `${draws.pick(NAME_FIRST_WORDS)} Labs (YC W${draws.int(7, 24)}) is hiring engineers to work on ${topic}`
        : isAsk
          ? `Ask HN: How do you approach ${topic} in production?`
          : style === 1
            ? `Show HN: A small ${topic} toolkit I built on weekends`
            : `${draws.pick(HN_VERBS)} ${topic} ${draws.pick(HN_TITLE_ENDINGS)}`;
      node = {
        id,
        created_at: new Date(createdAt * 1000).toISOString(),
        created_at_i: createdAt,
        type: isJob ? 'job' : 'story',
        author,
        title,
        url: isAsk ? null : `https://${draws.pick(HN_DOMAINS)}/${slugify(title).slice(0, 48)}`,
        text: isAsk ? hnParagraphs(draws) : null,
        points: isJob ? 1 : Math.floor(Math.exp(draws.next() * 6.5)),
        parent_id: null,
        story_id: id,
        options: [],
      };
      thread = [node];
    } else {
      const parent = draws.pick(thread);
      node = {
        id,
        created_at: new Date(createdAt * 1000).toISOString(),
        created_at_i: createdAt,
        type: 'comment',
        author,
        title: null,
        url: null,
        text: hnParagraphs(draws),
        points: null,
        parent_id: parent.id,
        story_id: root.id,
        options: [],
      };
      thread.push(node);
    }
    nodes.push(node);
  }
  return nodes;
}

/** Item `id` with its reply tree, or undefined when it does not exist. */
function hnItem(seed: number, id: number): HnAlgoliaItem | undefined {
  if (!Number.isSafeInteger(id) || id < 1 || id > FIXTURE_HN_ITEM_COUNT) return undefined;
  const nodes = hnBlock(seed, Math.floor((id - 1) / HN_BLOCK_SIZE));
  const repliesTo = new Map<number, HnNode[]>();
  for (const node of nodes) {
    if (node.parent_id === null) continue;
    const siblings = repliesTo.get(node.parent_id) ?? [];
    siblings.push(node);
    repliesTo.set(node.parent_id, siblings);
  }
  const withReplies = (node: HnNode): HnAlgoliaItem => ({ ...node, children: (repliesTo.get(node.id) ?? []).map(withReplies) });
  const node = nodes.find((candidate) => candidate.id === id);
  return node && withReplies(node);
}

// ---------------------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------------------

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

function validFaults(faults: FaultOptions): FaultOptions {
  const parsed = faultOptionsSchema.safeParse(faults);
  if (!parsed.success) throw new RangeError(`invalid fault options: ${describeIssues(parsed.error, 'faults')}`);
  return parsed.data;
}

const DEFAULT_SLOW_MS = 5000;
const DEFAULT_RETRY_AFTER_SECONDS = 1;
const SERVER_ERROR_STATUSES = [500, 502, 503] as const;
type ServerErrorStatus = (typeof SERVER_ERROR_STATUSES)[number];

/**
 * The random fault decisions for one request, drawn in a fixed order from a stream seeded by the fixture's
 * seed and the request's sequence number: the same seed and request order give the same decisions, whatever
 * the options (changing a rate changes which draws pass, not the draws).
 */
interface FaultDraws {
  serverError: number;
  serverErrorStatus: ServerErrorStatus;
  slow: number;
  malformed: number;
  invalidRecord: number;
  /** For choosing how to corrupt a body; used after the fixed draws above. */
  rest: Draws;
}

function faultDraws(seed: number, requestNumber: number): FaultDraws {
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

type JsonObject = { [key: string]: unknown };

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
function corruptAnswer(api: Api, routePattern: string, body: unknown, draws: Draws): unknown {
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
function malformedBody(json: string, draws: Draws): { body: string; contentType: string } {
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

// ---------------------------------------------------------------------------------------------------------
// Routing and answers
// ---------------------------------------------------------------------------------------------------------

type Api = 'yelp' | 'hn';

const SEARCH_PATTERN = '/v3/businesses/search';
const BUSINESS_PATTERN = '/v3/businesses/{id}';
const ITEM_PATTERN = '/api/v1/items/{id}';

interface Route {
  /** Undefined for paths outside both APIs (no faults, no key). */
  api: Api | undefined;
  /** The stats key. */
  pattern: string;
  /** The id in the path, for failIds/malformedIds. */
  id?: string;
}

function matchRoute(pathname: string): Route {
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
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** The business id a details request resolved to (its alias may have been asked for). */
  resolvedId?: string;
}

function yelpError(status: number, code: string, description: string, extra: JsonObject = {}): Answer {
  return { status, body: { error: { code, description, ...extra } } };
}

function hnError(status: number, error: string): Answer {
  return { status, body: { status, error } };
}

/** Yelp's JSON-schema style messages: `51 is greater than the maximum of 50`, with `field` and `instance`. */
function integerParam(params: URLSearchParams, field: string, fallback: number, min: number, max: number): number | Answer {
  const raw = params.get(field);
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw)) return yelpError(400, 'VALIDATION_ERROR', `'${raw}' is not of type 'integer'`, { field, instance: raw });
  const value = Number(raw);
  if (value < min) return yelpError(400, 'VALIDATION_ERROR', `${value} is less than the minimum of ${min}`, { field, instance: value });
  if (value > max) return yelpError(400, 'VALIDATION_ERROR', `${value} is greater than the maximum of ${max}`, { field, instance: value });
  return value;
}

function answerSearch(dataset: YelpDataset, params: URLSearchParams): Answer {
  const location = params.get('location');
  if (location === null || location.trim() === '') {
    if (params.has('latitude') || params.has('longitude')) {
      return yelpError(400, 'VALIDATION_ERROR', `This local fixture searches by location only; use one of: ${FIXTURE_CITIES.join('; ')}`, { field: 'location' });
    }
    return yelpError(400, 'VALIDATION_ERROR', 'Please specify a location or a latitude and longitude');
  }
  const limit = integerParam(params, 'limit', 20, 0, YELP_MAX_LIMIT);
  if (typeof limit !== 'number') return limit;
  const offset = integerParam(params, 'offset', 0, 0, YELP_MAX_RESULTS);
  if (typeof offset !== 'number') return offset;
  if (offset + limit > YELP_MAX_RESULTS) {
    return yelpError(400, 'VALIDATION_ERROR', `Too many results requested, limit+offset must be <= ${YELP_MAX_RESULTS}.`);
  }
  const city = dataset.city(location);
  if (!city) return yelpError(400, 'LOCATION_NOT_FOUND', 'Could not execute search, try specifying a more exact location.');
  const body: YelpSearchResponse = {
    businesses: city.businesses.slice(offset, offset + limit).map((business) => business.searchEntry),
    total: city.businesses.length,
    region: { center: { longitude: city.profile.longitude, latitude: city.profile.latitude } },
  };
  return { status: 200, body };
}

function answerBusiness(dataset: YelpDataset, idOrAlias: string): Answer {
  const business = dataset.business(idOrAlias);
  if (!business) return yelpError(404, 'BUSINESS_NOT_FOUND', 'The requested business could not be found.');
  return { status: 200, body: business.details, resolvedId: business.details.id };
}

function answerItem(seed: number, rawId: string): Answer {
  const item = /^\d+$/.test(rawId) ? hnItem(seed, Number(rawId)) : undefined;
  if (!item) return hnError(404, 'Not Found');
  return { status: 200, body: item, resolvedId: String(item.id) };
}

function notFoundAnswer(route: Route, pathname: string): Answer {
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

function serverErrorAnswer(api: Api, status: ServerErrorStatus): { status: number; body: string; contentType: string } {
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

function rateLimitAnswer(api: Api): Answer {
  return api === 'yelp'
    ? yelpError(
        429,
        'TOO_MANY_REQUESTS_PER_SECOND',
        'You have exceeded the queries-per-second limit for this endpoint. Try reducing the rate at which you make queries.',
      )
    : hnError(429, 'Too Many Requests');
}

// ---------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------

/** What will be written, decided before any delay. */
interface PlannedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  slow: boolean;
}

/** Resolves after `ms`, or at once when `signal` aborts (the fixture is closing). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener('abort', finish, { once: true });
  });
}

function nonNegativeMs(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`${what} must be a finite number ≥ 0, got ${ms}`);
  return ms;
}

/** The fixture's control routes (see the header). */
export const STATS_PATH = '/__fixture/stats';
export const STATS_RESET_PATH = '/__fixture/stats/reset';

export async function startApiFixture(options: ApiFixtureOptions): Promise<RunningApiFixture> {
  const host = options.host ?? '127.0.0.1';
  const seed = options.seed ?? DEFAULT_SEED;
  const apiKey = options.apiKey ?? DEFAULT_API_KEY;
  let latencyMs = nonNegativeMs(options.latencyMs ?? 0, 'latencyMs');
  let faults = validFaults(options.faults ?? {});
  const dataset = new YelpDataset(seed);
  const closing = new AbortController();
  // Every delayed response listens for the close: many at once is normal here, not a leak.
  setMaxListeners(0, closing.signal);

  /** Every request but /health, since start: numbers the fault draws. */
  let requestNumber = 0;
  /** API requests since the faults were last set: drives rateLimitEvery. */
  let apiRequestsSinceFaults = 0;
  let inFlight = 0;
  let stats: ApiFixtureStats = { requests: 0, byStatus: {}, byPath: {}, maxConcurrent: 0 };

  const snapshotStats = (): ApiFixtureStats => ({ ...stats, byStatus: { ...stats.byStatus }, byPath: { ...stats.byPath } });
  const resetStats = (): void => {
    stats = { requests: 0, byStatus: {}, byPath: {}, maxConcurrent: inFlight };
  };

  const log = (message: string): void => {
    if (!options.silent) process.stderr.write(`[api] ${message}\n`);
  };
  const count = (table: Record<string, number>, key: string): void => {
    table[key] = (table[key] ?? 0) + 1;
  };

  const planAnswer = (method: string, url: URL, route: Route, authorization: string | undefined, draws: FaultDraws): PlannedResponse => {
    const api = route.api;
    const jsonResponse = (answer: Answer, fault?: string): PlannedResponse => ({
      status: answer.status,
      headers: { 'content-type': 'application/json', ...(fault ? { 'x-fixture-fault': fault } : {}), ...answer.headers },
      body: JSON.stringify(answer.body),
      slow: false,
    });
    if (api === undefined) return jsonResponse(notFoundAnswer(route, url.pathname));

    apiRequestsSinceFaults++;
    if (faults.rateLimitEvery !== undefined && apiRequestsSinceFaults % faults.rateLimitEvery === 0) {
      const answer = rateLimitAnswer(api);
      answer.headers = { 'retry-after': String(faults.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS) };
      return jsonResponse(answer, 'rate-limit');
    }
    if (method !== 'GET' && method !== 'HEAD') {
      const answer = api === 'yelp' ? yelpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use GET.`) : hnError(405, 'Method Not Allowed');
      answer.headers = { allow: 'GET, HEAD' };
      return jsonResponse(answer);
    }
    if (api === 'yelp') {
      const token = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
      if (token === undefined || token === '') {
        return jsonResponse(yelpError(401, 'TOKEN_MISSING', 'An access token must be supplied in order to use this endpoint.'));
      }
      if (token !== apiKey) return jsonResponse(yelpError(401, 'TOKEN_INVALID', 'Invalid access token or authorization header.'));
    }

    const answer =
      route.pattern === SEARCH_PATTERN
        ? answerSearch(dataset, url.searchParams)
        : route.pattern === BUSINESS_PATTERN && route.id !== undefined
          ? answerBusiness(dataset, route.id)
          : route.pattern === ITEM_PATTERN && route.id !== undefined
            ? answerItem(seed, route.id)
            : notFoundAnswer(route, url.pathname);
    const targeted = (ids: readonly string[] | undefined): boolean =>
      ids !== undefined && ((route.id !== undefined && ids.includes(route.id)) || (answer.resolvedId !== undefined && ids.includes(answer.resolvedId)));

    if (targeted(faults.failIds) || draws.serverError < (faults.serverErrorRate ?? 0)) {
      const failure = serverErrorAnswer(api, draws.serverErrorStatus);
      return {
        status: failure.status,
        headers: { 'content-type': failure.contentType, 'x-fixture-fault': 'server-error' },
        body: failure.body,
        slow: false,
      };
    }
    if (answer.status === 200 && (targeted(faults.malformedIds) || draws.malformed < (faults.malformedRate ?? 0))) {
      const broken = malformedBody(JSON.stringify(answer.body), draws.rest);
      return { status: 200, headers: { 'content-type': broken.contentType, 'x-fixture-fault': 'malformed' }, body: broken.body, slow: false };
    }
    if (answer.status === 200 && draws.invalidRecord < (faults.invalidRecordRate ?? 0)) {
      return jsonResponse({ status: 200, body: corruptAnswer(api, route.pattern, answer.body, draws.rest) }, 'invalid-record');
    }
    return jsonResponse(answer);
  };

  /** The answer, marked slow (with whatever fault it already carries) when this request drew a delay. */
  const plan = (method: string, url: URL, route: Route, authorization: string | undefined, draws: FaultDraws): PlannedResponse => {
    const response = planAnswer(method, url, route, authorization, draws);
    if (route.api === undefined || !(draws.slow < (faults.slowRate ?? 0))) return response;
    const fault = response.headers['x-fixture-fault'];
    return { ...response, slow: true, headers: { ...response.headers, 'x-fixture-fault': fault ? `${fault},slow` : 'slow' } };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // Not AWS-shaped (no signatures), but on the developer's laptop all the same: a page gets nothing, not even
    // the control routes (request-guard.ts).
    const browser = refuseBrowserRequest(req, allowedHosts);
    if (browser) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'FORBIDDEN', description: browser.message } }));
      req.resume();
      return;
    }
    // Never resolved against a base: `//host/path` would otherwise be read as another host.
    const url = new URL(`http://fixture.invalid${req.url?.startsWith('/') ? req.url : '/'}`);
    if (url.pathname === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
      return;
    }
    if (url.pathname === STATS_PATH || url.pathname === STATS_RESET_PATH) {
      const wanted = url.pathname === STATS_PATH ? 'GET' : 'POST';
      if (req.method !== wanted) {
        res.writeHead(405, { 'content-type': 'application/json', allow: wanted });
        res.end(JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', description: `${url.pathname} takes ${wanted}` } }));
        return;
      }
      if (wanted === 'POST') resetStats();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(snapshotStats()));
      return;
    }

    requestNumber++;
    stats.requests++;
    inFlight++;
    stats.maxConcurrent = Math.max(stats.maxConcurrent, inFlight);
    // Released when the answer is handed to the socket, or when the client leaves first: whichever is first.
    let released = false;
    let clientLeft = false;
    const release = (): void => {
      if (released) return;
      released = true;
      inFlight--;
    };
    res.once('close', () => {
      if (!res.writableEnded) clientLeft = true;
      release();
    });

    const route = matchRoute(url.pathname);
    count(stats.byPath, route.pattern);
    const method = req.method ?? 'GET';
    let response: PlannedResponse;
    try {
      response = plan(method, url, route, req.headers.authorization, faultDraws(seed, requestNumber));
    } catch (error) {
      process.stderr.write(`[api] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
      response = { status: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: 'INTERNAL_ERROR', description: 'fixture bug' } }), slow: false };
    }

    await pause(latencyMs + (response.slow ? (faults.slowMs ?? DEFAULT_SLOW_MS) : 0), closing.signal);

    if (clientLeft || res.destroyed) {
      count(stats.byStatus, 'aborted');
      log(`${method} ${url.pathname}${url.search} → client left before the ${response.status}`);
      release();
      return;
    }
    count(stats.byStatus, String(response.status));
    log(`${method} ${url.pathname}${url.search} → ${response.status}${response.headers['x-fixture-fault'] ? ` (${response.headers['x-fixture-fault']})` : ''}`);
    // Counted as done before the bytes leave, so a client that waits for each answer never overlaps two.
    release();
    res.writeHead(response.status, { ...response.headers, 'content-length': String(Buffer.byteLength(response.body)) });
    res.end(method === 'HEAD' ? undefined : response.body);
  };

  const allowedHosts = new Set<string>();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      process.stderr.write(`[api] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
      res.destroy();
    });
  });
  const { endpoint: baseUrl } = await listenOnLoopback(server, options.port, host, allowedHosts);
  log(`listening on ${baseUrl} (seed ${seed})`);
  let closed: Promise<void> | undefined;

  return {
    baseUrl,
    yelpBaseUrl: `${baseUrl}/v3`,
    hnBaseUrl: `${baseUrl}/api/v1`,
    apiKey,
    stats: snapshotStats,
    resetStats,
    setFaults: (next) => {
      faults = validFaults(next);
      apiRequestsSinceFaults = 0;
    },
    setLatency: (ms) => {
      latencyMs = nonNegativeMs(ms, 'latency');
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------

export const DEFAULT_CLI_PORT = 4575;

export interface ApiFixtureCliOptions extends ApiFixtureOptions {
  silent: boolean;
}

export function parseCliArgs(argv: string[]): ApiFixtureCliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: String(DEFAULT_CLI_PORT) },
      host: { type: 'string' },
      'latency-ms': { type: 'string' },
      seed: { type: 'string' },
      'api-key': { type: 'string' },
      faults: { type: 'string' },
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = portOption(values.port);
  const latencyMs = integerOption('latency-ms', values['latency-ms'], 0);
  const seed = integerOption('seed', values.seed, Number.MIN_SAFE_INTEGER);
  let faults: FaultOptions | undefined;
  if (values.faults !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(values.faults);
    } catch {
      throw new Error(`--faults must be JSON, e.g. '{"serverErrorRate":0.1,"rateLimitEvery":20}', got ${values.faults}`);
    }
    const parsed = faultOptionsSchema.safeParse(json);
    if (!parsed.success) throw new Error(`--faults: ${describeIssues(parsed.error, 'faults')}`);
    faults = parsed.data;
  }
  if (values['api-key'] === '') throw new Error('--api-key must not be empty');
  return {
    port,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(latencyMs === undefined ? {} : { latencyMs }),
    ...(seed === undefined ? {} : { seed }),
    ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
    ...(faults === undefined ? {} : { faults }),
    silent: values.silent,
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'api',
  usage:
    `api-fixture.ts [--port ${DEFAULT_CLI_PORT}] [--host 127.0.0.1] [--latency-ms 0] [--seed ${DEFAULT_SEED}] ` +
    `[--api-key ${DEFAULT_API_KEY}] [--faults '{"serverErrorRate":0.05,"rateLimitEvery":50}'] [--silent]`,
  parse: parseCliArgs,
  start: async (options) => {
    const fixture = await startApiFixture(options);
    const { baseUrl, yelpBaseUrl, hnBaseUrl, apiKey } = fixture;
    return { ready: { ready: true, baseUrl, yelpBaseUrl, hnBaseUrl, apiKey }, close: () => fixture.close() };
  },
  what: 'shutting down',
  graceMs: 3000,
});
