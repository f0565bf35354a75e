/** The cities the fixture knows, each with the streets, codes and size its businesses are generated from. */
import { z } from 'zod';
import cityEntries from './yelp-cities.json' with { type: 'json' };

/** A city's size unless its entry in yelp-cities.json says otherwise. */
const STANDARD_CITY_SIZE = 240;

/**
 * What yelp-cities.json must hold, checked when the fixture loads. New York has 1200 businesses: more than Yelp
 * will page through, so a client must stop at offset + limit = 1000.
 */
const cityEntrySchema = z.object({
  /** How FIXTURE_CITIES names it, and what `location=` must match (case-insensitively). */
  location: z.string(),
  city: z.string(),
  state: z.string(),
  latitude: z.number(),
  longitude: z.number(),
  zipPrefix: z.string(),
  areaCode: z.string(),
  streets: z.array(z.string()).min(1),
  crossStreets: z.array(z.string()).min(1),
  businessCount: z.number().int().positive().default(STANDARD_CITY_SIZE),
});

/** A city the fixture knows, with the streets, codes and size its businesses are generated from. */
export type CityProfile = Readonly<z.output<typeof cityEntrySchema>>;

export const CITY_PROFILES: readonly CityProfile[] = z.array(cityEntrySchema).parse(cityEntries);

/** The `location=` values the fixture knows, e.g. "San Francisco, CA". The bare city name matches too. */
export const FIXTURE_CITIES: readonly string[] = Object.freeze(CITY_PROFILES.map((profile) => profile.location));

/** How many businesses each city has (what `total` reports; at most YELP_MAX_RESULTS of them can be paged to). */
export const FIXTURE_BUSINESS_COUNTS: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(CITY_PROFILES.map((profile) => [profile.location, profile.businessCount])),
);
