import { describe, expect, it } from 'vitest';
import { uploadKeyFor } from '../../../lib/rates/client.ts';
import { resolveOptions } from '../../../lib/rates/job.ts';
import { isCompressedUpload, resultPrefixFor } from '../../../lib/rates/upload-keys.ts';
import { chooseSplit } from '../../../lib/rates/parallel/choose.ts';

const defaults = { numerator: 'cancer', denominator: 'population', bins: 30 };

describe('resultPrefixFor', () => {
  it.each([
    ['uploads/counties.csv', 'results/counties/'],
    ['uploads/2024/q1/counties.csv', 'results/2024/q1/counties/'],
    ['uploads/with space.csv', 'results/with space/'],
    // A compressed upload shares its name's results with the plain one (whichever run commits last is there).
    ['uploads/counties.csv.gz', 'results/counties/'],
    ['uploads/2024/q1/counties.csv.gz', 'results/2024/q1/counties/'],
    ['uploads/a.b.csv.gz', 'results/a.b/'],
  ])('%s → %s', (key, prefix) => {
    expect(resultPrefixFor(key)).toBe(prefix);
  });

  it.each([
    'results/x.csv',
    'uploads/x.txt',
    'uploads/.csv',
    'uploads/dir/.csv',
    'x/uploads/a.csv',
    'uploads/a.CSV',
    'uploads/../x.csv',
    'uploads/a/./b.csv',
    // The same rules for the compressed form, and no other compression or spelling.
    'uploads/.csv.gz',
    'uploads/dir/.csv.gz',
    'uploads/../x.csv.gz',
    'uploads/a/../../results/b.csv.gz',
    'results/x.csv.gz',
    'uploads/x.gz',
    'uploads/x.tar.gz',
    'uploads/x.csv.GZ',
    'uploads/x.csv.bz2',
    'uploads/x.csv.gz.part',
  ])('refuses %s, so results can never land where they would trigger a run', (key) => {
    expect(resultPrefixFor(key)).toBeNull();
  });
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

  it('keeps a gzip file compressed, under the .csv.gz suffix the second trigger watches', () => {
    expect(uploadKeyFor('/tmp/data/counties.csv.gz')).toBe('uploads/counties.csv.gz');
    expect(uploadKeyFor('counties.gz')).toBe('uploads/counties.csv.gz');
    expect(uploadKeyFor('report.txt.GZ')).toBe('uploads/report.csv.gz');
    expect(uploadKeyFor('we:ird*name.csv.gz')).toBe('uploads/we_ird_name.csv.gz');
    expect(uploadKeyFor('.gz')).toBe('uploads/upload.csv.gz');
    for (const file of ['a.csv.gz', 'counties.gz', 'x.tgz.gz']) {
      const key = uploadKeyFor(file);
      expect(isCompressedUpload(key), key).toBe(true);
      expect(resultPrefixFor(key), key).not.toBeNull();
    }
  });
});

describe('chooseSplit', () => {
  const setup = { aboveBytes: 1000, chunkBytes: 64 };

  it('never splits a compressed upload, whatever was asked or however big', () => {
    for (const asked of [undefined, {}, { workers: 4 }, { chunkBytes: 4096 }, { workers: 1 }]) {
      expect(chooseSplit(asked, 10 ** 9, setup, { compressed: true }), JSON.stringify(asked)).toBeNull();
    }
  });

  it('splits a plain file as before', () => {
    expect(chooseSplit({ workers: 4 }, 10, setup)).toEqual({ workers: 4 });
    expect(chooseSplit(undefined, 10 ** 9, setup, { compressed: false })).toEqual({ chunkBytes: 64 });
    expect(chooseSplit(undefined, 1000, setup)).toBeNull();
  });
});
