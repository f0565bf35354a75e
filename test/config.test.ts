import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadRatesConfig } from '../lib/config.ts';

describe('loadRatesConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadRatesConfig({ DATA_BUCKET: 'my-data-bucket' })).toEqual({
      dataBucket: 'my-data-bucket',
      defaults: { numerator: 'cancer', denominator: 'population', bins: 30 },
      limits: { maxInputBytes: 4 * 1024 ** 3, spillDir: tmpdir() },
    });
  });

  it('reads the Lambda input limit in bytes, up to 10 GiB', () => {
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: '1048576' }).limits.maxInputBytes).toBe(1048576);
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: '' }).limits.maxInputBytes).toBe(4 * 1024 ** 3);
    expect(() => loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: String(10 * 1024 ** 3 + 1) })).toThrow(
      /RATES_MAX_INPUT_BYTES=.*must be at most 10737418240 \(the largest CSV the rates Lambda takes/,
    );
    expect(() => loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_MAX_INPUT_BYTES: '0' })).toThrow(/RATES_MAX_INPUT_BYTES="0": must be at least 1/);
  });

  it('reads the spill directory: absolute, default the OS temp dir (empty counts as unset)', () => {
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_SPILL_DIR: '/mnt/scratch' }).limits.spillDir).toBe('/mnt/scratch');
    expect(loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_SPILL_DIR: '' }).limits.spillDir).toBe(tmpdir());
    expect(() => loadRatesConfig({ DATA_BUCKET: 'b-1', RATES_SPILL_DIR: 'scratch' })).toThrow(/RATES_SPILL_DIR="scratch": must be an absolute directory path/);
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
