/** The cities the fixture knows, each with the streets, codes and size its businesses are generated from. */

export interface CityProfile {
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

export const CITY_PROFILES: readonly CityProfile[] = [
  {
    location: 'San Francisco, CA',
    city: 'San Francisco',
    state: 'CA',
    latitude: 37.7749,
    longitude: -122.4194,
    zipPrefix: '941',
    areaCode: '415',
    streets: ['Market St', 'Valencia St', 'Mission St', 'Geary Blvd', 'Irving St', 'Columbus Ave'],
    crossStreets: ['16th St', '24th St', 'Polk St', 'Divisadero St'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    // More than Yelp will page through, so a client must stop at offset + limit = 1000.
    location: 'New York, NY',
    city: 'New York',
    state: 'NY',
    latitude: 40.7128,
    longitude: -74.006,
    zipPrefix: '100',
    areaCode: '212',
    streets: ['Broadway', '2nd Ave', 'Bleecker St', 'Lexington Ave', 'Canal St', 'W 14th St'],
    crossStreets: ['Houston St', 'E 9th St', 'Bowery', 'Spring St'],
    businessCount: 1200,
  },
  {
    location: 'Chicago, IL',
    city: 'Chicago',
    state: 'IL',
    latitude: 41.8781,
    longitude: -87.6298,
    zipPrefix: '606',
    areaCode: '312',
    streets: ['N Clark St', 'W Randolph St', 'N Milwaukee Ave', 'S Halsted St', 'W Division St'],
    crossStreets: ['Wabash Ave', 'Lake St', 'W Madison St'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Austin, TX',
    city: 'Austin',
    state: 'TX',
    latitude: 30.2672,
    longitude: -97.7431,
    zipPrefix: '787',
    areaCode: '512',
    streets: ['S Congress Ave', 'E 6th St', 'S Lamar Blvd', 'Guadalupe St', 'E Cesar Chavez St'],
    crossStreets: ['Barton Springs Rd', 'E 7th St', 'W 2nd St'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Seattle, WA',
    city: 'Seattle',
    state: 'WA',
    latitude: 47.6062,
    longitude: -122.3321,
    zipPrefix: '981',
    areaCode: '206',
    streets: ['Pike St', '1st Ave', 'Broadway E', 'NW Market St', 'Rainier Ave S'],
    crossStreets: ['Pine St', 'E Olive Way', 'Ballard Ave NW'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Boston, MA',
    city: 'Boston',
    state: 'MA',
    latitude: 42.3601,
    longitude: -71.0589,
    zipPrefix: '021',
    areaCode: '617',
    streets: ['Newbury St', 'Hanover St', 'Boylston St', 'Tremont St', 'Washington St'],
    crossStreets: ['Commonwealth Ave', 'Summer St', 'Charles St'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Denver, CO',
    city: 'Denver',
    state: 'CO',
    latitude: 39.7392,
    longitude: -104.9903,
    zipPrefix: '802',
    areaCode: '303',
    streets: ['Larimer St', 'E Colfax Ave', 'S Broadway', 'Tennyson St', 'Blake St'],
    crossStreets: ['15th St', 'Wazee St', 'E 17th Ave'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Portland, OR',
    city: 'Portland',
    state: 'OR',
    latitude: 45.5152,
    longitude: -122.6784,
    zipPrefix: '972',
    areaCode: '503',
    streets: ['SE Division St', 'NW 23rd Ave', 'N Mississippi Ave', 'SE Hawthorne Blvd', 'NE Alberta St'],
    crossStreets: ['SE 30th Ave', 'NW Glisan St', 'N Skidmore St'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Los Angeles, CA',
    city: 'Los Angeles',
    state: 'CA',
    latitude: 34.0522,
    longitude: -118.2437,
    zipPrefix: '900',
    areaCode: '213',
    streets: ['Sunset Blvd', 'W 3rd St', 'S Spring St', 'Melrose Ave', 'Abbot Kinney Blvd'],
    crossStreets: ['N Vermont Ave', 'S Broadway', 'Fairfax Ave'],
    businessCount: STANDARD_CITY_SIZE,
  },
  {
    location: 'Miami, FL',
    city: 'Miami',
    state: 'FL',
    latitude: 25.7617,
    longitude: -80.1918,
    zipPrefix: '331',
    areaCode: '305',
    streets: ['SW 8th St', 'Collins Ave', 'NW 2nd Ave', 'Biscayne Blvd', 'Ocean Dr'],
    crossStreets: ['SW 15th Ave', 'NW 25th St', 'Lincoln Rd'],
    businessCount: STANDARD_CITY_SIZE,
  },
];

/** The `location=` values the fixture knows, e.g. "San Francisco, CA". The bare city name matches too. */
export const FIXTURE_CITIES: readonly string[] = Object.freeze(CITY_PROFILES.map((profile) => profile.location));

/** How many businesses each city has (what `total` reports; at most YELP_MAX_RESULTS of them can be paged to). */
export const FIXTURE_BUSINESS_COUNTS: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(CITY_PROFILES.map((profile) => [profile.location, profile.businessCount])),
);
