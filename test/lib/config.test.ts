/**
 * Configuration from the environment: the documented defaults, and bad values. Every `load*Config` refuses a bad value with a ConfigError whose message
 * names the variable, shows its value (unless it may hold a secret) and says what is allowed; the error carries no
 * stack frames, so a container that fails to start (the handlers load their configuration at import) does not put
 * any into the reply of its invocations either. An empty value counts as unset, as serverless.yml passes an unset
 * parameter.
 */
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  DEFAULT_RATES_CHUNK_BYTES,
  DEFAULT_RATES_WORKER_CONCURRENCY,
  DEFAULT_RATES_PARALLEL_ABOVE_BYTES,
  loadEc2Config,
  loadPrimesConfig,
  loadRatesConfig,
} from '../../lib/config.ts';
import { MIN_CHUNK_BYTES } from '../../lib/rates/parallel/chunks.ts';
import { loadScrapeConfig } from '../../lib/scrape/config.ts';
import { lambdaErrorReply, quietObservability, STACK_FRAME } from '../support/bad-input.ts';

type Loader = (env: NodeJS.ProcessEnv) => unknown;
/** [variable, value (undefined: unset), what the message must say is allowed] */
type Case = [string, string | undefined, RegExp];

function refusal(load: Loader, env: NodeJS.ProcessEnv): ConfigError {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

function expectRefused(
  load: Loader,
  base: NodeJS.ProcessEnv,
  [variable, value, allowed]: Case,
  secret = false,
): ConfigError {
  const env = { ...base };
  if (value === undefined) delete env[variable];
  else env[variable] = value;
  const error = refusal(load, env);
  expect(error.code).toBe('INVALID_CONFIG');
  expect(error.message).toMatch(/^Invalid configuration: /);
  const named =
    value === undefined
      ? `${variable}:`
      : secret
        ? `${variable} (value not shown)`
        : `${variable}=${JSON.stringify(value)}`;
  expect(error.message).toContain(named);
  expect(error.message).toMatch(allowed);
  if (secret && value !== undefined && value.trim() !== '') expect(error.message).not.toContain(value);
  expect(lambdaErrorReply(error).trace.join('\n')).not.toMatch(STACK_FRAME);
  return error;
}

const BUCKET_RULE = /must be a valid S3 bucket name \(3-63 lowercase letters, digits, dots, hyphens\)/;

describe('loadRatesConfig', () => {
  const base = { DATA_BUCKET: 'good-bucket' };
  it.each<Case>([
    ['DATA_BUCKET', 'Bad_Bucket', BUCKET_RULE],
    ['DATA_BUCKET', undefined, BUCKET_RULE],
    ['DATA_BUCKET', 'ab', BUCKET_RULE],
    ['DATA_BUCKET', 'b'.repeat(64), BUCKET_RULE],
    ['DATA_BUCKET', '-bucket', BUCKET_RULE],
    ['DATA_BUCKET', 'données', BUCKET_RULE],
    ['RATES_BINS', '0', /RATES_BINS="0": must be at least 1$/],
    ['RATES_BINS', '1001', /must be at most 1000$/],
    ['RATES_BINS', 'abc', /must be a whole number from 1 to 1000$/],
    ['RATES_BINS', '2.5', /must be a whole number from 1 to 1000$/],
    ['RATES_BINS', 'Infinity', /must be a whole number from 1 to 1000$/],
    ['RATES_NUMERATOR', '   ', /must be a non-empty CSV column name$/],
    ['RATES_DENOMINATOR', 'd'.repeat(300), /must be at most 256 characters$/],
    [
      'RATES_MAX_INPUT_BYTES',
      '0',
      /must be at least 1 \(the largest CSV the rates Lambda takes; bigger files go to the EC2 backend\)$/,
    ],
    ['RATES_MAX_INPUT_BYTES', '1e12', /must be at most 10737418240 /],
    ['RATES_MAX_INPUT_BYTES', '4GB', /must be a whole number of bytes from 1 to 10737418240 /],
    ['RATES_SPILL_DIR', 'tmp/spill', /RATES_SPILL_DIR="tmp\/spill": must be an absolute directory path/],
    ['RATES_SPILL_DIR', './spill', /must be an absolute directory path/],
    [
      'RATES_WORKER_FUNCTION',
      '   ',
      /RATES_WORKER_FUNCTION=" {3}": must name the rates worker Lambda function, or be empty$/,
    ],
    ['RATES_WORKER_TIMEOUT_SECONDS', '0', /RATES_WORKER_TIMEOUT_SECONDS="0": must be at least 1$/],
    ['RATES_WORKER_TIMEOUT_SECONDS', '901', /must be at most 900$/],
    ['RATES_WORKER_TIMEOUT_SECONDS', '2m', /must be a whole number of seconds from 1 to 900$/],
    [
      'RATES_PARALLEL_ABOVE_BYTES',
      '0',
      /RATES_PARALLEL_ABOVE_BYTES="0": must be at least 1 \(uploads up to this size run on one function; bigger ones are split across workers\)$/,
    ],
    ['RATES_PARALLEL_ABOVE_BYTES', '256MiB', /must be a whole number of bytes from 1 to 5497558138880 /],
    ['RATES_PARALLEL_ABOVE_BYTES', String(5 * 1024 ** 4 + 1), /must be at most 5497558138880 /],
    [
      'RATES_CHUNK_BYTES',
      '4095',
      /RATES_CHUNK_BYTES="4095": must be at least 4096 \(the bytes of the upload each parallel worker parses\)$/,
    ],
    ['RATES_CHUNK_BYTES', String(5 * 1024 ** 3 + 1), /must be at most 5368709120 /],
    ['RATES_CHUNK_BYTES', '65536.5', /must be a whole number of bytes from 4096 to 5368709120 /],
    [
      'RATES_WORKER_CONCURRENCY',
      '0',
      /RATES_WORKER_CONCURRENCY="0": must be at least 1 \(rates-worker invocations in flight at once\)$/,
    ],
    ['RATES_WORKER_CONCURRENCY', '1001', /must be at most 1000 /],
  ])('%s=%j', (...testCase) => {
    expectRefused(loadRatesConfig, base, testCase);
  });

  it('control: the defaults, and an empty RATES_BINS counts as unset', () => {
    expect(loadRatesConfig({ ...base, RATES_BINS: '' })).toEqual({
      dataBucket: 'good-bucket',
      defaults: { numerator: 'cancer', denominator: 'population', bins: 30 },
      limits: { maxInputBytes: 4 * 1024 ** 3, spillDir: tmpdir() },
      parallel: {
        workerFunction: null,
        workerTimeoutSeconds: 120,
        aboveBytes: 256 * 1024 ** 2,
        chunkBytes: 64 * 1024 ** 2,
        concurrency: 100,
      },
    });
  });
});

describe('loadPrimesConfig', () => {
  const base = { PRIMES_WORKER_FUNCTION: 'cloud-parallel-dev-primes-worker' };
  it.each<Case>([
    ['PRIMES_WORKER_FUNCTION', undefined, /must name the worker Lambda function$/],
    ['PRIMES_WORKER_FUNCTION', '', /must name the worker Lambda function$/],
    ['PRIMES_WORKER_MEMORY_MB', '64', /must be at least 128$/],
    ['PRIMES_WORKER_MEMORY_MB', '20000', /must be at most 10240$/],
    ['PRIMES_WORKER_MEMORY_MB', 'lots', /must be a whole number of MB from 128 to 10240$/],
    ['LAMBDA_USD_PER_GB_SECOND', '-1', /must be a positive number \(US dollars\)$/],
    ['LAMBDA_USD_PER_GB_SECOND', 'free', /must be a positive number \(US dollars\)$/],
    ['LAMBDA_USD_PER_MILLION_REQUESTS', '0', /must be a positive number \(US dollars\)$/],
    ['PRIMES_WORKER_TIMEOUT_SECONDS', '901', /must be at most 900$/],
    ['PRIMES_WORKER_TIMEOUT_SECONDS', '0', /must be at least 1$/],
  ])('%s=%j', (...testCase) => {
    expectRefused(loadPrimesConfig, base, testCase);
  });

  it('control: the defaults, and empty prices count as unset', () => {
    expect(loadPrimesConfig({ ...base, PRIMES_WORKER_MEMORY_MB: '', LAMBDA_USD_PER_GB_SECOND: '' })).toEqual({
      workerFunction: 'cloud-parallel-dev-primes-worker',
      workerTimeoutSeconds: 900,
      pricing: { usdPerGbSecond: 0.0000166667, usdPerMillionRequests: 0.2, workerMemoryMb: 1769 },
    });
  });
});

describe('loadEc2Config', () => {
  const base = { DATA_BUCKET: 'good-bucket' };
  it.each<Case>([
    ['DATA_BUCKET', 'Bad_Bucket', BUCKET_RULE],
    ['EC2_IMAGE_ID', 'ami-xyz', /must be an AMI id \(ami-…\), or empty for the current Amazon Linux 2023$/],
    ['EC2_IMAGE_ID', 'ubuntu', /must be an AMI id/],
    ['EC2_INSTANCE_TYPE', 'C7I LARGE', /must be an instance type such as c7i\.large$/],
    ['EC2_SUBNET_ID', 'subnet-zz', /must be a subnet id \(subnet-…\)$/],
    [
      'EC2_SECURITY_GROUP_IDS',
      'sg-1,nope',
      /\(item 1, "sg-1"\): must be comma-separated security group ids \(sg-…\); EC2_SECURITY_GROUP_IDS="sg-1,nope" \(item 2, "nope"\): must be/,
    ],
    [
      'EC2_SECURITY_GROUP_IDS',
      'sg-0123456789abcdef0, sg-x',
      /\(item 2, "sg-x"\): must be comma-separated security group ids/,
    ],
    ['EC2_DEADLINE_SECONDS', '0', /must be at least 1$/],
    ['EC2_DEADLINE_SECONDS', '86401', /must be at most 86400$/],
    ['EC2_DEADLINE_SECONDS', '10m', /must be a whole number of seconds from 1 to 86400$/],
    ['EC2_POLL_SECONDS', '0', /must be at least 0\.05$/],
    ['EC2_POLL_SECONDS', '61', /must be at most 60$/],
    ['EC2_USD_PER_HOUR', '-1', /must be at least 0$/],
    ['EC2_USD_PER_HOUR', 'abc', /must be a number \(US dollars\) from 0 to 10000$/],
    ['EC2_MAX_INSTANCES', '0', /must be at least 1$/],
    ['EC2_MAX_INSTANCES', '1e6', /must be at most 1000$/],
    ['EC2_NODE_MAJOR', '18', /must be at least 20 \(a Node\.js major version; the bundles target Node 20\)$/],
    ['EC2_NODE_MAJOR', 'lts', /must be a whole number from 20 to 99/],
    ['SERVICE_NAME', '', /must be a non-empty service name \(it tags the instances\)$/],
    ['STAGE', '', /must be a non-empty stage name \(it tags the instances\)$/],
  ])('%s=%j', (...testCase) => {
    expectRefused(loadEc2Config, base, testCase);
  });

  it('control: empty deployment parameters count as unset', () => {
    const config = loadEc2Config({
      ...base,
      EC2_IMAGE_ID: '',
      EC2_SECURITY_GROUP_IDS: '',
      EC2_DEADLINE_SECONDS: '',
      EC2_USD_PER_HOUR: '',
      EC2_NODE_MAJOR: ' ',
    });
    expect(config).toEqual({
      bucket: 'good-bucket',
      tags: { service: 'cloud-parallel', stage: 'dev' },
      deadlineMs: 600_000,
      pollMs: 5000,
      maxInstances: 16,
      nodeMajor: 22,
    });
  });
});

describe('loadScrapeConfig', () => {
  const base = { MONGODB_URI: 'mongodb://db.example:27017' };
  it.each<Case>([
    ['MONGODB_URI', 'http://x', /must be a mongodb:\/\/ or mongodb\+srv:\/\/ connection string$/],
    [
      'MONGODB_URI',
      'http://admin:hunter2@db.example',
      /must be a mongodb:\/\/ or mongodb\+srv:\/\/ connection string$/,
    ],
    [
      'MONGODB_URI',
      'mongodb//admin:hunter2@db.example',
      /must be a mongodb:\/\/ or mongodb\+srv:\/\/ connection string$/,
    ],
    ['YELP_API_KEY', '   ', /must be the Yelp Fusion API key, or unset \(then YELP_API_KEY_PARAMETER names it\)$/],
  ])('%s=%j (a secret: its value is not repeated)', (...testCase) => {
    expectRefused(loadScrapeConfig, base, testCase, true);
  });

  it.each<Case>([
    [
      'MONGODB_URI',
      undefined,
      /set MONGODB_URI \(a connection string\) or MONGODB_URI_PARAMETER \(the SSM SecureString holding it\)$/,
    ],
    ['MONGODB_DB', 'a.b', /must be a MongoDB database name \(no spaces or \/\\\."\$\*<>:\|\?\)$/],
    ['MONGODB_DB', 'd'.repeat(64), /must be a MongoDB database name/],
    ['SCRAPE_COLLECTION', 'system.x', /must not start with "system\."$/],
    ['SCRAPE_COLLECTION', '$bad', /must be a MongoDB collection name$/],
    [
      'YELP_API_KEY_PARAMETER',
      'no spaces allowed',
      /must be an SSM parameter name such as \/cloud-parallel\/dev\/yelp-api-key$/,
    ],
    ['YELP_API_BASE_URL', 'ftp://x', /must be an http\(s\) URL$/],
    ['HN_API_BASE_URL', 'not a url', /must be an http\(s\) URL$/],
    ['SCRAPE_CONCURRENCY', '999', /SCRAPE_CONCURRENCY="999": must be at most 64$/],
    ['SCRAPE_CONCURRENCY', '0', /must be at least 1$/],
    ['SCRAPE_CONCURRENCY', 'lots', /must be a whole number from 1 to 64$/],
    ['SCRAPE_TIMEOUT_MS', '5', /must be at least 100$/],
    ['SCRAPE_TIMEOUT_MS', '1e9', /must be at most 120000$/],
    ['SCRAPE_RETRIES', '-1', /must be at least 0$/],
    ['SCRAPE_RETRIES', 'x', /must be a whole number from 0 to 10$/],
  ])('%s=%j', (...testCase) => {
    expectRefused(loadScrapeConfig, base, testCase);
  });

  it('MONGODB_URI_PARAMETER must be a parameter name when it is the only source', () => {
    expectRefused(loadScrapeConfig, {}, ['MONGODB_URI_PARAMETER', 'bad name!', /must be an SSM parameter name/]);
  });

  it('control: an empty SCRAPE_RETRIES counts as unset (4), not as 0 retries', () => {
    expect(loadScrapeConfig({ ...base, SCRAPE_RETRIES: '', SCRAPE_CONCURRENCY: '' }).pool).toEqual({
      concurrency: 16,
      timeoutMs: 10_000,
      retries: 4,
    });
  });
});

describe('a handler whose configuration is bad fails to load with the ConfigError, without stack frames', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it.each<[string, Record<string, string>, RegExp]>([
    [
      '../../functions/rates.ts',
      { DATA_BUCKET: 'Bad_Bucket' },
      /DATA_BUCKET="Bad_Bucket": must be a valid S3 bucket name/,
    ],
    [
      '../../functions/primes-fanout.ts',
      { DATA_BUCKET: 'good-bucket', PRIMES_WORKER_FUNCTION: 'w', EC2_IMAGE_ID: 'ami-xyz' },
      /EC2_IMAGE_ID="ami-xyz": must be an AMI id/,
    ],
    [
      '../../functions/scrape.ts',
      { MONGODB_URI: 'mongodb://db', SCRAPE_CONCURRENCY: '999' },
      /SCRAPE_CONCURRENCY="999": must be at most 64/,
    ],
  ])('%s', async (module, env, message) => {
    quietObservability();
    vi.stubEnv('AWS_REGION', 'us-east-1');
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    vi.resetModules();
    const error = await import(module).then(
      () => {
        throw new Error(`${module} loaded with a bad configuration`);
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'ConfigError',
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(message),
    });
    expect(lambdaErrorReply(error).trace.join('\n')).not.toMatch(STACK_FRAME);
  });
});

describe('loadRatesConfig: defaults and limits', () => {
  it('applies the documented defaults', () => {
    expect(loadRatesConfig({ DATA_BUCKET: 'my-data-bucket' })).toEqual({
      dataBucket: 'my-data-bucket',
      defaults: { numerator: 'cancer', denominator: 'population', bins: 30 },
      limits: { maxInputBytes: 4 * 1024 ** 3, spillDir: tmpdir() },
      parallel: {
        workerFunction: null,
        workerTimeoutSeconds: 120,
        aboveBytes: 256 * 1024 ** 2,
        chunkBytes: 64 * 1024 ** 2,
        concurrency: 100,
      },
    });
  });

  it('reads the Lambda input limit in bytes, up to 10 GiB', () => {
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: '1048576' }).limits.maxInputBytes).toBe(
      1048576,
    );
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: '' }).limits.maxInputBytes).toBe(4 * 1024 ** 3);
    expect(() => loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: String(10 * 1024 ** 3 + 1) })).toThrow(
      /RATES_MAX_INPUT_BYTES=.*must be at most 10737418240 \(the largest CSV the rates Lambda takes/,
    );
    expect(() => loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: '0' })).toThrow(
      /RATES_MAX_INPUT_BYTES="0": must be at least 1/,
    );
  });

  it('reads the spill directory: absolute, default the OS temp dir (empty counts as unset)', () => {
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_SPILL_DIR: '/mnt/scratch' }).limits.spillDir).toBe(
      '/mnt/scratch',
    );
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_SPILL_DIR: '' }).limits.spillDir).toBe(tmpdir());
    expect(() => loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_SPILL_DIR: 'scratch' })).toThrow(
      /RATES_SPILL_DIR="scratch": must be an absolute directory path/,
    );
  });

  it('reads the parallel path: a worker function only when named, its timeout, the threshold and the chunk size', () => {
    const deployed = loadRatesConfig({
      DATA_BUCKET: 'b-1',
      RATES_WORKER_FUNCTION: ' cloud-parallel-dev-rates-worker ',
      RATES_WORKER_TIMEOUT_SECONDS: '60',
      RATES_PARALLEL_ABOVE_BYTES: '1',
      RATES_CHUNK_BYTES: '4096',
      RATES_WORKER_CONCURRENCY: '8',
    });
    expect(deployed.parallel).toEqual({
      workerFunction: 'cloud-parallel-dev-rates-worker',
      workerTimeoutSeconds: 60,
      aboveBytes: 1,
      chunkBytes: 4096,
      concurrency: 8,
    });
    // The largest values allowed: a chunk of one S3 part, a threshold of S3's largest object (never split).
    const largest = loadRatesConfig({
      DATA_BUCKET: 'b-1',
      RATES_WORKER_TIMEOUT_SECONDS: '900',
      RATES_PARALLEL_ABOVE_BYTES: String(5 * 1024 ** 4),
      RATES_CHUNK_BYTES: String(5 * 1024 ** 3),
      RATES_WORKER_CONCURRENCY: '1000',
    }).parallel;
    expect(largest).toEqual({
      workerFunction: null,
      workerTimeoutSeconds: 900,
      aboveBytes: 5 * 1024 ** 4,
      chunkBytes: 5 * 1024 ** 3,
      concurrency: 1000,
    });
    // serverless.yml passes an unset parameter as '': the defaults, and no worker (the parallel path unavailable).
    const unset = loadRatesConfig({
      DATA_BUCKET: 'b-1',
      RATES_WORKER_FUNCTION: '',
      RATES_WORKER_TIMEOUT_SECONDS: '',
      RATES_PARALLEL_ABOVE_BYTES: '',
      RATES_CHUNK_BYTES: '',
      RATES_WORKER_CONCURRENCY: '',
    }).parallel;
    expect(unset).toEqual({
      workerFunction: null,
      workerTimeoutSeconds: 120,
      aboveBytes: DEFAULT_RATES_PARALLEL_ABOVE_BYTES,
      chunkBytes: DEFAULT_RATES_CHUNK_BYTES,
      concurrency: DEFAULT_RATES_WORKER_CONCURRENCY,
    });
    // The smallest chunk is the planner's (chunks.ts): a size it would refuse is refused at start-up instead.
    const chunkOf = (bytes: number) => loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_CHUNK_BYTES: String(bytes) });
    expect(chunkOf(MIN_CHUNK_BYTES).parallel.chunkBytes).toBe(MIN_CHUNK_BYTES);
    expect(() => chunkOf(MIN_CHUNK_BYTES - 1)).toThrow(`must be at least ${MIN_CHUNK_BYTES}`);
    expect(DEFAULT_RATES_PARALLEL_ABOVE_BYTES).toBe(268_435_456);
    expect(DEFAULT_RATES_CHUNK_BYTES).toBe(67_108_864);
  });

  it('reads overrides from the environment', () => {
    const config = loadRatesConfig({
      DATA_BUCKET: 'b-1',
      RATES_NUMERATOR: ' deaths ',
      RATES_DENOMINATOR: 'births',
      RATES_BINS: '12',
    });
    expect(config.defaults).toEqual({ numerator: 'deaths', denominator: 'births', bins: 12 });
  });

  it.each([
    [{}, /DATA_BUCKET/],
    [{ DATA_BUCKET: 'Not_A_Bucket' }, /DATA_BUCKET="Not_A_Bucket": must be a valid S3 bucket name/],
    [{ DATA_BUCKET: 'ok-bucket', RATES_BINS: '0' }, /RATES_BINS="0": must be at least 1/],
    [{ DATA_BUCKET: 'ok-bucket', RATES_BINS: '2.5' }, /RATES_BINS="2.5": must be a whole number/],
    [{ DATA_BUCKET: 'ok-bucket', RATES_BINS: 'many' }, /RATES_BINS="many"/],
    [{ DATA_BUCKET: 'ok-bucket', RATES_NUMERATOR: '   ' }, /RATES_NUMERATOR=.*non-empty/],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => loadRatesConfig(env)).toThrow(ConfigError);
    expect(() => loadRatesConfig(env)).toThrow(message);
  });
});
