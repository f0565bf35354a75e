/**
 * The scraper's environment configuration and its SSM-held secrets.
 */
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/config.ts';
import { createSecretResolver, loadScrapeConfig } from '../../../lib/scrape/config.ts';

const ssm = mockClient(SSMClient);
afterEach(() => ssm.reset());

describe('scrape configuration', () => {
  it('has defaults for everything but where MongoDB is', () => {
    expect(loadScrapeConfig({ MONGODB_URI: 'mongodb://127.0.0.1:27017' })).toEqual({
      mongo: {
        uri: { value: 'mongodb://127.0.0.1:27017', from: 'the environment variable MONGODB_URI' },
        db: 'cloud_parallel',
      },
      collections: { yelp: 'businesses', hn: 'hn_items' },
      yelpApiKey: undefined,
      yelpBaseUrl: 'https://api.yelp.com/v3',
      hnBaseUrl: 'https://hn.algolia.com/api/v1',
      pool: { concurrency: 16, timeoutMs: 10_000, retries: 4 },
      write: { retryForMs: 30_000 },
    });
  });

  it('reads secrets from SSM parameters when only their names are given, and one collection for both sources', () => {
    const config = loadScrapeConfig({
      MONGODB_URI_PARAMETER: '/cloud-parallel/dev/mongodb-uri',
      YELP_API_KEY_PARAMETER: '/cloud-parallel/dev/yelp-api-key',
      SCRAPE_COLLECTION: 'scraped',
      MONGODB_DB: 'scrapes',
      SCRAPE_CONCURRENCY: '32',
      YELP_API_BASE_URL: '',
    });
    expect(config.mongo).toEqual({
      uri: { parameter: '/cloud-parallel/dev/mongodb-uri', from: expect.stringContaining('MONGODB_URI_PARAMETER') },
      db: 'scrapes',
    });
    expect(config.yelpApiKey).toEqual({
      parameter: '/cloud-parallel/dev/yelp-api-key',
      from: 'the SSM parameter /cloud-parallel/dev/yelp-api-key (YELP_API_KEY_PARAMETER)',
    });
    expect(config.collections).toEqual({ yelp: 'scraped', hn: 'scraped' });
    expect(config.pool.concurrency).toBe(32);
    expect(config.yelpBaseUrl).toBe('https://api.yelp.com/v3');
  });

  it('names each bad variable', () => {
    expect(() => loadScrapeConfig({})).toThrow(/MONGODB_URI: set MONGODB_URI .* or MONGODB_URI_PARAMETER/);
    expect(() => loadScrapeConfig({ MONGODB_URI: 'http://db' })).toThrow(ConfigError);
    expect(() => loadScrapeConfig({ MONGODB_URI: 'mongodb://db', SCRAPE_CONCURRENCY: '65' })).toThrow(
      /SCRAPE_CONCURRENCY="65": must be at most 64/,
    );
    expect(() => loadScrapeConfig({ MONGODB_URI: 'mongodb://db', SCRAPE_TIMEOUT_MS: 'soon' })).toThrow(
      /SCRAPE_TIMEOUT_MS/,
    );
    expect(() => loadScrapeConfig({ MONGODB_URI: 'mongodb://db', HN_API_BASE_URL: 'ftp://x' })).toThrow(
      /HN_API_BASE_URL="ftp:\/\/x": must be an http\(s\) URL/,
    );
    expect(() => loadScrapeConfig({ MONGODB_URI: 'mongodb://db', SCRAPE_WRITE_RETRY_MS: '-1' })).toThrow(
      /SCRAPE_WRITE_RETRY_MS="-1": must be at least 0/,
    );
    expect(() => loadScrapeConfig({ MONGODB_URI: 'mongodb://db', SCRAPE_WRITE_RETRY_MS: '1e9' })).toThrow(
      /SCRAPE_WRITE_RETRY_MS="1e9": must be at most 600000/,
    );
    // 0 is a valid budget: one attempt per batch, no retries.
    expect(loadScrapeConfig({ MONGODB_URI: 'mongodb://db', SCRAPE_WRITE_RETRY_MS: '0' }).write).toEqual({
      retryForMs: 0,
    });
  });

  it('reads each SecureString once, decrypted, and tries again after a failure', async () => {
    ssm
      .on(GetParameterCommand, { Name: '/p/key', WithDecryption: true })
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ Parameter: { Value: ' s3cret\n' } });
    const read = createSecretResolver(new SSMClient({ region: 'us-east-1' }));
    const source = { parameter: '/p/key', from: 'the SSM parameter /p/key' };
    await expect(read(source)).rejects.toThrow(/could not read the SSM parameter \/p\/key .*ThrottlingException/);
    expect(await read(source)).toBe('s3cret');
    expect(await read(source)).toBe('s3cret');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
    expect(await read({ value: 'plain', from: 'env' })).toBe('plain');

    ssm.on(GetParameterCommand, { Name: '/p/empty' }).resolves({ Parameter: { Value: '' } });
    await expect(read({ parameter: '/p/empty', from: '' })).rejects.toThrow(/the SSM parameter \/p\/empty is empty/);
  });

  it('reads a parameter found empty again, and keeps it once it has a value', async () => {
    ssm
      .on(GetParameterCommand, { Name: '/p/later' })
      .resolvesOnce({ Parameter: { Value: ' ' } })
      .resolves({ Parameter: { Value: 'filled' } });
    const read = createSecretResolver(new SSMClient({ region: 'us-east-1' }));
    const source = { parameter: '/p/later', from: 'the SSM parameter /p/later' };
    await expect(read(source)).rejects.toThrow(/the SSM parameter \/p\/later is empty/);
    expect(await read(source)).toBe('filled');
    expect(await read(source)).toBe('filled');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
  });
});
