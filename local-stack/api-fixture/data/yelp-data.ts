/** The Yelp businesses of every fixture city: a pure function of the seed, generated once per fixture. */
import type {
  YelpBusinessDetails,
  YelpCategory,
  YelpCoordinates,
  YelpHours,
  YelpOpenPeriod,
  YelpSearchBusiness,
  YelpSearchLocation,
} from '../types.ts';
import { z } from 'zod';
import { Draws, ID_ALPHABET, seedFrom, slugify } from './random.ts';
import businessKinds from './yelp-kinds.json' with { type: 'json' };
import { CITY_PROFILES, type CityProfile } from './yelp-cities.ts';

interface BusinessKind {
  category: YelpCategory;
  nouns: readonly string[];
  transactions: readonly string[];
  /** Bars close after midnight; others close the same day. */
  lateNight: boolean;
}

/** What yelp-kinds.json must hold, checked when the fixture loads. */
const businessKindSchema = z.object({
  category: z.object({ alias: z.string(), title: z.string() }),
  nouns: z.array(z.string()).min(1),
  transactions: z.array(z.string()),
  lateNight: z.boolean(),
});

const BUSINESS_KINDS: readonly BusinessKind[] = z.array(businessKindSchema).min(1).parse(businessKinds);

const SECONDARY_CATEGORIES: readonly YelpCategory[] = [
  { alias: 'cocktailbars', title: 'Cocktail Bars' },
  { alias: 'newamerican', title: 'New American' },
  { alias: 'wine_bars', title: 'Wine Bars' },
  { alias: 'desserts', title: 'Desserts' },
  { alias: 'salad', title: 'Salad' },
  { alias: 'sandwiches', title: 'Sandwiches' },
];

export const NAME_FIRST_WORDS: readonly string[] = [
  'Golden',
  'Blue Door',
  'Little',
  'Lucky',
  'Red Lantern',
  'North Star',
  'Corner',
  'Sunset',
  'Olive',
  'Copper',
  'Maple',
  'Harbor',
  'Tiny',
  'Old Town',
  'Velvet',
  'Wild',
  'Union',
  'Juniper',
  'Brick & Mortar',
  "Mama's",
  "Tony's",
  'Nonna',
  'Saffron',
  'Lotus',
  'Iron',
  'Salt & Pepper',
  'Hidden',
  'Second Street',
  'Bluebird',
  'Fig & Thistle',
];

const PRICE_LEVELS: readonly string[] = ['$', '$$', '$$', '$$', '$$$', '$$$', '$$$$'];

/** Great-circle distance in meters. */
function haversineMeters(a: YelpCoordinates, b: YelpCoordinates): number {
  const toRadians = (degrees: number): number => (degrees * Math.PI) / 180;
  const dLat = toRadians(b.latitude - a.latitude);
  const dLon = toRadians(b.longitude - a.longitude);
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(toRadians(a.latitude)) * Math.cos(toRadians(b.latitude)) * Math.sin(dLon / 2) ** 2;
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

export interface FixtureBusiness {
  details: YelpBusinessDetails;
  searchEntry: YelpSearchBusiness;
}

/**
 * A business's address and phone. The helpers below draw from the business's stream at the point where
 * generateBusiness calls them, in the order they always did: the same seed keeps giving the same data.
 */
function drawContact(
  draws: Draws,
  profile: CityProfile,
): { location: YelpSearchLocation; phone: string; displayPhone: string } {
  const address1 = `${draws.int(1, 4999)} ${draws.pick(profile.streets)}`;
  const address2 = draws.chance(0.12) ? `Ste ${draws.int(100, 900)}` : draws.chance(0.5) ? '' : null;
  const address3 = draws.chance(0.5) ? '' : null;
  const zipCode = `${profile.zipPrefix}${String(draws.int(1, 99)).padStart(2, '0')}`;
  const displayAddress = [address1, ...(address2 ? [address2] : []), `${profile.city}, ${profile.state} ${zipCode}`];
  const lineNumber = String(draws.int(100, 9999)).padStart(4, '0');
  const hasPhone = !draws.chance(0.08);
  const phone = hasPhone ? `+1${profile.areaCode}555${lineNumber}` : '';
  const displayPhone = hasPhone ? `(${profile.areaCode}) 555-${lineNumber}` : '';
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
  return { location, phone, displayPhone };
}

/** Up to three photo URLs (none for the 5% without an image). */
function drawPhotos(draws: Draws): string[] {
  const hasImage = !draws.chance(0.05);
  const photoIds = [draws.chars(ID_ALPHABET, 22), draws.chars(ID_ALPHABET, 22), draws.chars(ID_ALPHABET, 22)];
  const photoUrl = (photoId: string): string =>
    `https://s3-media${draws.int(1, 4)}.fl.yelpcdn.com/bphoto/${photoId}/o.jpg`;
  return hasImage ? photoIds.slice(0, draws.int(1, 3)).map(photoUrl) : [];
}

function generateBusiness(
  seed: number,
  profile: CityProfile,
  index: number,
  takenIds: Set<string>,
  aliasCounts: Map<string, number>,
): FixtureBusiness {
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
  const { location, phone, displayPhone } = drawContact(draws, profile);
  const price = draws.chance(0.15) ? undefined : draws.pick(PRICE_LEVELS);
  const transactions = kind.transactions.filter(() => draws.chance(0.6));
  const isClosed = draws.chance(0.03);
  const photos = drawPhotos(draws);
  const imageUrl = photos[0] ?? '';
  const url = `https://www.yelp.com/biz/${alias}?adjust_creative=local-fixture&utm_campaign=yelp_api_v3&utm_medium=api_v3_business_search&utm_source=local-fixture`;
  const crossStreets = draws.chance(0.6)
    ? `${draws.pick(profile.crossStreets)} & ${draws.pick(profile.crossStreets)}`
    : '';
  const hours = generateHours(draws, kind);
  const isClaimed = draws.chance(0.7);

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
  return { details, searchEntry: searchEntryOf(details, location, profile) };
}

/** The business as a search lists it: the details' fields (no hours, photos or claim), in the search's key order. */
function searchEntryOf(
  details: YelpBusinessDetails,
  location: YelpSearchLocation,
  profile: CityProfile,
): YelpSearchBusiness {
  const { id, alias, name, image_url, is_closed, url, review_count, categories, rating, coordinates } = details;
  const { transactions, price, phone, display_phone } = details;
  return {
    id,
    alias,
    name,
    image_url,
    is_closed,
    url,
    review_count,
    categories,
    rating,
    coordinates,
    transactions,
    ...(price === undefined ? {} : { price }),
    location,
    phone,
    display_phone,
    distance: roundTo(haversineMeters({ latitude: profile.latitude, longitude: profile.longitude }, coordinates), 4),
  };
}

/** "  san FRANCISCO ,  ca " → "san francisco, ca". */
function normalizeLocation(location: string): string {
  return location
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/\s*,\s*/g, ', ');
}

export class YelpDataset {
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
