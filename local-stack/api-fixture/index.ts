/** The API fixture's public surface, for tests and benchmarks (the process entry is main.ts). */
export { FIXTURE_HN_ITEM_COUNT } from './data/hn-data.ts';
export { FIXTURE_BUSINESS_COUNTS, FIXTURE_CITIES } from './data/yelp-cities.ts';
export { faultOptionsSchema, type FaultOptions } from './faults.ts';
export { DEFAULT_CLI_PORT, parseCliArgs, type ApiFixtureCliOptions } from './main.ts';
export {
  DEFAULT_API_KEY,
  DEFAULT_SEED,
  startApiFixture,
  type ApiFixtureOptions,
  type RunningApiFixture,
} from './server.ts';
export { STATS_PATH, STATS_RESET_PATH, type ApiFixtureStats } from './stats.ts';
export type { HnAlgoliaItem, YelpBusinessDetails, YelpSearchBusiness, YelpSearchResponse } from './types.ts';
export { YELP_MAX_LIMIT, YELP_MAX_RESULTS } from './yelp-routes.ts';
