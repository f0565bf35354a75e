import { describe, expect, it } from 'vitest';
import { serviceConfigFromPrinted } from '../../local-stack/service-config.ts';

describe('serviceConfigFromPrinted', () => {
  it('maps provider.s3 bucket refs and s3 events to notification rules', () => {
    const config = serviceConfigFromPrinted({
      service: 'svc',
      provider: {
        stage: 'dev',
        region: 'eu-west-1',
        s3: { data: { name: 'svc-data' } },
        environment: { DATA_BUCKET: 'svc-data', N: 3 } as Record<string, unknown>,
      },
      functions: {
        rates: {
          name: 'svc-dev-rates',
          events: [
            {
              s3: { bucket: 'data', event: 's3:ObjectCreated:*', rules: [{ prefix: 'uploads/' }, { suffix: '.csv' }] },
            },
          ],
        },
        other: { events: [{ s3: 'raw-bucket' }] },
        plain: {},
      },
    });
    expect(config.region).toBe('eu-west-1');
    expect(config.buckets.sort()).toEqual(['raw-bucket', 'svc-data']);
    expect(config.notifications).toEqual([
      {
        bucket: 'svc-data',
        events: ['s3:ObjectCreated:*'],
        target: 'svc-dev-rates',
        prefix: 'uploads/',
        suffix: '.csv',
      },
      { bucket: 'raw-bucket', events: ['s3:ObjectCreated:*'], target: 'svc-dev-other' },
    ]);
    expect(config.environment).toEqual({ DATA_BUCKET: 'svc-data' });
    expect(config.functions).toEqual({ rates: 'svc-dev-rates', other: 'svc-dev-other', plain: 'svc-dev-plain' });
  });
});
