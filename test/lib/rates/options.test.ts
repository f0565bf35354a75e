import { describe, expect, it } from 'vitest';
import { uploadKeyFor } from '../../../lib/rates/client.ts';
import { resolveOptions, resultPrefixFor } from '../../../lib/rates/job.ts';

const defaults = { numerator: 'cancer', denominator: 'population', bins: 30 };

describe('resultPrefixFor', () => {
  it.each([
    ['uploads/counties.csv', 'results/counties/'],
    ['uploads/2024/q1/counties.csv', 'results/2024/q1/counties/'],
    ['uploads/with space.csv', 'results/with space/'],
  ])('%s → %s', (key, prefix) => {
    expect(resultPrefixFor(key)).toBe(prefix);
  });

  it.each(['results/x.csv', 'uploads/x.txt', 'uploads/.csv', 'uploads/dir/.csv', 'x/uploads/a.csv', 'uploads/a.CSV'])(
    'refuses %s, so results can never land where they would trigger a run',
    (key) => {
      expect(resultPrefixFor(key)).toBeNull();
    },
  );
});

describe('resolveOptions', () => {
  it('prefers invocation options, then object metadata, then deployment defaults', () => {
    expect(resolveOptions(defaults, undefined, undefined)).toEqual(defaults);
    expect(resolveOptions(defaults, { bins: '12', numerator: 'deaths' }, undefined)).toEqual({
      ...defaults,
      bins: 12,
      numerator: 'deaths',
    });
    expect(resolveOptions(defaults, { bins: '12', numerator: 'deaths' }, { bins: 50 })).toEqual({
      ...defaults,
      bins: 50,
      numerator: 'deaths',
    });
  });

  it.each([
    [{ bins: '0' }, /bins must be at least 1/],
    [{ bins: 'ten' }, /bins/],
    [{ bins: '1001' }, /bins must be at most 1000/],
    [{ numerator: '  ' }, /numerator must be a non-empty/],
  ])('rejects metadata %j with a message', (metadata, message) => {
    expect(() => resolveOptions(defaults, metadata, undefined)).toThrow(message);
  });
});

describe('uploadKeyFor', () => {
  it('puts files under uploads/ with the .csv suffix the trigger watches', () => {
    expect(uploadKeyFor('/tmp/data/counties.csv')).toBe('uploads/counties.csv');
    expect(uploadKeyFor('report.txt')).toBe('uploads/report.csv');
    expect(uploadKeyFor('we:ird*name.csv')).toBe('uploads/we_ird_name.csv');
  });
});
