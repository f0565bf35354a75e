/**
 * The sample data's counties: real per-state county counts and common name parts, turned into each county's
 * ready-encoded `fips,name,ST,` prefix (plain and CSV-quoted). Draws from the rng in a fixed order.
 */

import type { Random } from './sample-random.ts';

/** [postal code, FIPS state code, number of counties or county equivalents] for the 50 states + DC (3,143). */
const STATES: ReadonlyArray<readonly [string, number, number]> = [
  ['AL', 1, 67],
  ['AK', 2, 30],
  ['AZ', 4, 15],
  ['AR', 5, 75],
  ['CA', 6, 58],
  ['CO', 8, 64],
  ['CT', 9, 8],
  ['DE', 10, 3],
  ['DC', 11, 1],
  ['FL', 12, 67],
  ['GA', 13, 159],
  ['HI', 15, 5],
  ['ID', 16, 44],
  ['IL', 17, 102],
  ['IN', 18, 92],
  ['IA', 19, 99],
  ['KS', 20, 105],
  ['KY', 21, 120],
  ['LA', 22, 64],
  ['ME', 23, 16],
  ['MD', 24, 24],
  ['MA', 25, 14],
  ['MI', 26, 83],
  ['MN', 27, 87],
  ['MS', 28, 82],
  ['MO', 29, 115],
  ['MT', 30, 56],
  ['NE', 31, 93],
  ['NV', 32, 17],
  ['NH', 33, 10],
  ['NJ', 34, 21],
  ['NM', 35, 33],
  ['NY', 36, 62],
  ['NC', 37, 100],
  ['ND', 38, 53],
  ['OH', 39, 88],
  ['OK', 40, 77],
  ['OR', 41, 36],
  ['PA', 42, 67],
  ['RI', 44, 5],
  ['SC', 45, 46],
  ['SD', 46, 66],
  ['TN', 47, 95],
  ['TX', 48, 254],
  ['UT', 49, 29],
  ['VT', 50, 14],
  ['VA', 51, 133],
  ['WA', 53, 39],
  ['WV', 54, 55],
  ['WI', 55, 72],
  ['WY', 56, 23],
];

/** Rows cycle through this many distinct FIPS codes. */
export const SAMPLE_COUNTY_COUNT = STATES.reduce((n, [, , count]) => n + count, 0);

const NAMES = [
  'Adams',
  'Allen',
  'Anderson',
  'Baker',
  'Benton',
  'Boone',
  'Brown',
  'Buchanan',
  'Butler',
  'Caldwell',
  'Calhoun',
  'Campbell',
  'Carroll',
  'Carter',
  'Cass',
  'Cherokee',
  'Clark',
  'Clay',
  'Clinton',
  'Columbia',
  'Crawford',
  'Cumberland',
  'Custer',
  'Dallas',
  'Decatur',
  'Delaware',
  'Douglas',
  'Fayette',
  'Franklin',
  'Fulton',
  'Garfield',
  'Grant',
  'Greene',
  'Hamilton',
  'Hancock',
  'Hardin',
  'Harrison',
  'Henry',
  'Houston',
  'Howard',
  'Jackson',
  'Jasper',
  'Jefferson',
  'Johnson',
  'Knox',
  'Lafayette',
  'Lake',
  'Lawrence',
  'Lee',
  'Lewis',
  'Lincoln',
  'Livingston',
  'Logan',
  'Madison',
  'Marion',
  'Marshall',
  'Mercer',
  'Monroe',
  'Montgomery',
  'Morgan',
  'Ohio',
  'Orange',
  'Perry',
  'Pike',
  'Polk',
  'Pulaski',
  'Putnam',
  'Randolph',
  'Richland',
  'Scott',
  'Shelby',
  'Sherman',
  'Stark',
  'Sullivan',
  'Taylor',
  'Union',
  'Van Buren',
  'Warren',
  'Washington',
  'Wayne',
  'Webster',
  'Wilson',
  'Wood',
  'Wright',
];
const NATURE = ['Cedar', 'Pine', 'Oak', 'Elk', 'Bear', 'Eagle', 'Willow', 'Red', 'Clear', 'Stone', 'Maple', 'Buffalo'];
const LANDFORM = ['Ridge', 'River', 'Creek', 'Valley', 'Lake', 'Hill', 'Springs', 'Falls', 'Rock', 'Prairie'];
const SPECIAL = [
  'Lewis and Clark',
  "O'Brien",
  "Prince George's",
  'St. Clair',
  'St. Lucie',
  'De Kalb',
  'Miami-Dade',
  'Doña Ana',
  'Los Alamos',
  'Sainte Genevieve',
  'Bon Homme',
  'La Salle',
  "Queen Anne's",
  'Fond du Lac',
  'Yukon-Koyukuk',
];
const EMBEDDED_QUOTE_NOTES = ['"North"', '"Old Town"', '"The Valley"', '"Unincorporated"'];

export interface County {
  /** `fips,name,ST,` */
  plain: Uint8Array;
  /** `fips,"name, ST",ST,` or with an embedded quoted nickname. */
  quoted: Uint8Array;
}

const utf8 = new TextEncoder();

function csvQuote(field: string): string {
  return `"${field.replace(/"/g, '""')}"`;
}

export function buildCounties(rng: Random): County[] {
  const counties: County[] = [];
  for (const [state, stateFips, count] of STATES) {
    const used = new Set<string>();
    const suffix = state === 'LA' ? 'Parish' : state === 'AK' ? 'Borough' : state === 'DC' ? '' : 'County';
    for (let k = 0; k < count; k++) {
      const fips = String(stateFips * 1000 + 2 * k + 1).padStart(5, '0');
      let base = 'District of Columbia';
      if (state !== 'DC') {
        do {
          const roll = rng.uniform();
          base =
            roll < 0.72
              ? rng.pick(NAMES)
              : roll < 0.92
                ? `${rng.pick(NATURE)} ${rng.pick(LANDFORM)}`
                : rng.pick(SPECIAL);
        } while (used.has(base) && used.size < NAMES.length);
        used.add(base);
      }
      const name = suffix ? `${base} ${suffix}` : base;
      const quotedName =
        rng.uniform() < 0.25 ? `${name} ${rng.pick(EMBEDDED_QUOTE_NOTES)}, ${state}` : `${name}, ${state}`;
      counties.push({
        plain: utf8.encode(`${fips},${name},${state},`),
        quoted: utf8.encode(`${fips},${csvQuote(quotedName)},${state},`),
      });
    }
  }
  return counties;
}
