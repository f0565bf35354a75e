import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two lanes (`npm run test:unit`, `npm run test:integration`; `npm test` runs both, unit first).
 *
 * unit: files that start no server (not even on port 0), no child process (no bash, git, sls, esbuild) and no
 * local stack — mocked clients, worker threads and pure functions only. The whole lane stays under ~60 s on
 * the 2-core development machine. A file belongs here only if it keeps to that; list it by name.
 *
 * integration: everything else — local servers, the stack, child processes, `sls package`. A new test file lands
 * here unless it is added to UNIT_TESTS, so a forgotten entry costs speed, never a port collision.
 */
const UNIT_TESTS = [
  'bench/cli-timing',
  'bench/rates-parallel-model',
  'bench/shortest-number',
  'cli/rates-progress',
  'cli/rates-summary', // imports the command's module; starts nothing
  'dashboard/data-view',
  'dashboard/guard',
  'dashboard/html',
  'dashboard/runs-jobs',
  'dashboard/runs-view',
  'dashboard/scrapes-view',
  'functions/primes', // its endpoints point at a closed port: a port is bound for an instant and released, nothing listens
  'functions/rates',
  'functions/rates-worker', // its S3 endpoint is a closed port, as functions/primes'
  'lib/aws/concat-plan',
  'lib/aws/lambda-deadline',
  'lib/aws/s3-client', // a real S3 client whose middleware captures each signed request: nothing is sent
  'lib/aws/s3-event',
  'lib/aws/throttled-object', // a real S3 client whose middleware answers every command
  'lib/aws/upload', // a real S3 client whose middleware answers every command: nothing leaves the process
  'lib/config',
  'lib/fanout/ec2/backend', // mocked EC2/SSM/S3 clients; the run against a real S3 server is backend-e2e
  'lib/fanout/fanout',
  'lib/fanout/lambda-backend',
  'lib/fanout/local-backend', // worker threads, not processes
  'lib/fanout/timeline',
  'lib/fanout/timeline-chart',
  'lib/middleware/job-errors',
  'lib/middleware/worker-facts',
  'lib/observability',
  'lib/primes/chunks',
  'lib/primes/fanout-job',
  'lib/primes/invoke-fanout', // a real Lambda client whose middleware answers every command
  'lib/primes/kernels',
  'lib/primes/run-history', // a real S3 client whose middleware answers every command
  'lib/primes/run-progress', // worker threads, not processes
  'lib/primes/run-record', // worker threads, not processes
  'lib/primes/sieve',
  'lib/rates/chart',
  'lib/rates/chart-cache',
  'lib/rates/chart-warmup',
  'lib/rates/client', // a real S3 client whose middleware answers every command
  'lib/rates/csv-rates',
  'lib/rates/csv-rates-memory',
  'lib/rates/csv-tokenizer',
  'lib/rates/event',
  'lib/rates/exact-sum',
  'lib/rates/gzip-input',
  'lib/rates/history', // a real S3 client whose middleware answers every command
  'lib/rates/options',
  'lib/rates/output-sink',
  'lib/rates/parallel/assemble-plan',
  'lib/rates/parallel/chunks',
  'lib/rates/parallel/deadline',
  'lib/rates/parallel/merge',
  'lib/rates/parallel/range-parse',
  'lib/rates/parallel/stats-rounds',
  'lib/rates/parallel/timeline',
  'lib/rates/row-kernel',
  'lib/rates/sample-data',
  'lib/rates/split',
  'lib/rates/stats',
  'lib/scrape/config',
  'lib/stage',
  'lib/units',
  'local-stack/service-config',
  'local-stack/service-config-cache',
  'local-stack/stack/compiled-servers',
  'serverless-plugins/input-manifest',
  'serverless-plugins/offline-bundle-cache',
].map((name) => `test/${name}.test.ts`);

export default defineConfig({
  test: {
    testTimeout: 30_000,
    // The SDK's notice that its 2027 releases need Node 22 (the lockfile pins one that supports 20).
    // CLOUD_PARALLEL_CLI_SOURCES: a test that runs cli/bin.js runs the sources, not a compiled CLI (cli/compiled.js).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', CLOUD_PARALLEL_CLI_SOURCES: '1' },
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT_TESTS,
          // Some unit files time work or sample RSS: one at a time, as they always ran.
          fileParallelism: false,
          // Group orders above 0: vitest would otherwise queue every one-file-at-a-time project after the rest,
          // and the fast lane should report first.
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT_TESTS],
          // Integration tests start real local servers on fixed ports; files run one at a time so they never collide.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
