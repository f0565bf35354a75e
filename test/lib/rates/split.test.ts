/**
 * The split a run is asked for, read back from the upload's S3 metadata by the rules a direct invocation follows
 * (lib/rates/split.ts): what the CLI sets (client.ts) comes back as the same numbers; a bad value is INVALID_OPTIONS
 * naming the metadata key.
 */
import { describe, expect, it } from 'vitest';
import { RatesFileError } from '../../../lib/rates/errors.ts';
import { METADATA } from '../../../lib/rates/upload-keys.ts';
import { ratesSplitSchema, resolveSplit, splitFromMetadata } from '../../../lib/rates/split.ts';

describe('splitFromMetadata', () => {
  it('names the same keys as the client sets (METADATA)', () => {
    expect(METADATA.workers).toBe('workers');
    expect(METADATA.chunkBytes).toBe('chunk-bytes');
  });

  it.each<[string, Record<string, string> | undefined, object]>([
    ['no metadata', undefined, {}],
    ['unrelated metadata', { 'run-id': 'r', bins: '5' }, {}],
    ['workers', { workers: '4' }, { workers: 4 }],
    ['one worker', { workers: '1' }, { workers: 1 }],
    ['the most workers', { workers: '10000' }, { workers: 10_000 }],
    ['chunk bytes as a number', { 'chunk-bytes': '4096' }, { chunkBytes: 4096 }],
    ['chunk bytes with a suffix', { 'chunk-bytes': '64MiB' }, { chunkBytes: 67_108_864 }],
    ['chunk bytes with a fraction', { 'chunk-bytes': '1.5 MB' }, { chunkBytes: 1_500_000 }],
  ])('%s', (_label, metadata, split) => {
    expect(splitFromMetadata(metadata)).toEqual(split);
  });

  it.each<[string, Record<string, string>, string]>([
    ['workers 0', { workers: '0' }, 'x-amz-meta-workers "0" must be at least 1 (1 runs the file on one worker)'],
    [
      'workers 10001',
      { workers: '10001' },
      'x-amz-meta-workers "10001" must be at most 10000 (one multipart upload takes at most that many parts)',
    ],
    ['workers "four"', { workers: 'four' }, 'x-amz-meta-workers "four" must be a whole number from 1 to 10000'],
    ['workers "2.5"', { workers: '2.5' }, 'x-amz-meta-workers "2.5" must be a whole number from 1 to 10000'],
    ['workers ""', { workers: '' }, 'x-amz-meta-workers "" must be a whole number from 1 to 10000'],
    [
      'chunk-bytes 4095',
      { 'chunk-bytes': '4095' },
      'x-amz-meta-chunk-bytes "4095" must be at least 4096 bytes (4 KiB): below that each chunk costs more than it parses',
    ],
    ['chunk-bytes "64XB"', { 'chunk-bytes': '64XB' }, 'x-amz-meta-chunk-bytes "64XB" has an unknown unit "XB"; give '],
    ['chunk-bytes "1.5B"', { 'chunk-bytes': '1.5B' }, 'x-amz-meta-chunk-bytes "1.5B" is not a whole number of bytes'],
    ['both', { workers: '2', 'chunk-bytes': '8KiB' }, 'set x-amz-meta-workers or x-amz-meta-chunk-bytes, not both'],
  ])('refuses %s with INVALID_OPTIONS naming the key', (_label, metadata, problem) => {
    let caught: unknown;
    try {
      splitFromMetadata(metadata);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RatesFileError);
    expect((caught as RatesFileError).code).toBe('INVALID_OPTIONS');
    expect((caught as RatesFileError).message).toContain(`Invalid options in the upload's metadata: ${problem}`);
  });
});

describe('resolveSplit', () => {
  it("takes the invocation's split over the metadata's, whole (never one field of each)", () => {
    expect(resolveSplit({ 'chunk-bytes': '8KiB' }, { workers: 3 })).toEqual({ workers: 3 });
    expect(resolveSplit({ workers: '2' }, { chunkBytes: 8192 })).toEqual({ chunkBytes: 8192 });
  });

  it("falls back to the metadata's, and checks it", () => {
    expect(resolveSplit({ workers: '2' }, undefined)).toEqual({ workers: 2 });
    expect(resolveSplit({ workers: '2' }, {})).toEqual({ workers: 2 });
    expect(resolveSplit(undefined, undefined)).toEqual({});
    expect(() => resolveSplit({ workers: '0' }, {})).toThrow(/x-amz-meta-workers "0"/);
  });
});

describe('ratesSplitSchema', () => {
  it('takes numbers and strings alike (a direct invocation may quote a number, as for bins)', () => {
    expect(ratesSplitSchema.parse({ workers: 3 })).toEqual({ workers: 3 });
    expect(ratesSplitSchema.parse({ workers: '3' })).toEqual({ workers: 3 });
    expect(ratesSplitSchema.parse({ chunkBytes: 5000 })).toEqual({ chunkBytes: 5000 });
    expect(ratesSplitSchema.parse({ chunkBytes: '5000' })).toEqual({ chunkBytes: 5000 });
    expect(ratesSplitSchema.safeParse({ chunkBytes: 5000.5 }).success).toBe(false);
    expect(ratesSplitSchema.safeParse({ workers: true }).success).toBe(false);
  });
});
