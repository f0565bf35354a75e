/**
 * The one switch for slow tests (the 1 GB stream, π(1e10)): `CLOUD_PARALLEL_SLOW_TESTS=1 npm test` runs them.
 * Without it they are declared with `it.skipIf(!SLOW_TESTS)` and reported as skipped, never as passed.
 */
export const SLOW_TESTS = process.env.CLOUD_PARALLEL_SLOW_TESTS === '1';
