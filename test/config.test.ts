import { describe, expect, it } from 'vitest';
import { ConfigError, loadRatesConfig } from '../lib/config.ts';

describe('loadRatesConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadRatesConfig({ DATA_BUCKET: 'my-data-bucket' })).toEqual({
      dataBucket: 'my-data-bucket',
      defaults: { numerator: 'cancer', denominator: 'population', bins: 30 },
    });
  });

  it('reads overrides from the environment', () => {
    const config = loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_NUMERATOR: ' deaths ', RATES_DENOMINATOR: 'births', RATES_BINS: '12' });
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
