/**
 * A direct invocation of the rates function, parsed (lib/rates/event.ts): the split knobs `workers` and `chunkBytes`
 * reach the job input; bad ones are INVALID_EVENT naming the field. (The handler's answers to bad events, against a
 * real S3, are in job-input.test.ts; this is the parse alone.)
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../lib/errors.ts';
import { parseRatesEvent } from '../../../lib/rates/event.ts';

const KEY = 'uploads/a.csv';

describe('parseRatesEvent: the split of a direct invocation', () => {
  it.each<[string, object, object | undefined]>([
    ['no split', { key: KEY }, undefined],
    ['workers', { key: KEY, workers: 4 }, { workers: 4 }],
    ['one worker (the single path)', { key: KEY, workers: 1 }, { workers: 1 }],
    ['workers as a string', { key: KEY, workers: '7' }, { workers: 7 }],
    ['chunkBytes as a number', { key: KEY, chunkBytes: 4096 }, { chunkBytes: 4096 }],
    ['chunkBytes as a size', { key: KEY, chunkBytes: '64MiB' }, { chunkBytes: 67_108_864 }],
    ['chunkBytes in SI units', { key: KEY, chunkBytes: '5 MB' }, { chunkBytes: 5_000_000 }],
  ])('%s', (_label, event, split) => {
    const [input, ...more] = parseRatesEvent(event, 'data-bucket');
    expect(more).toEqual([]);
    expect(input).toEqual({
      bucket: 'data-bucket',
      key: KEY,
      options: {},
      ...(split === undefined ? {} : { split }),
    });
  });

  it('keeps the other options beside the split', () => {
    expect(parseRatesEvent({ key: KEY, bins: 5, numerator: 'deaths', workers: 2 }, 'b')).toEqual([
      { bucket: 'b', key: KEY, options: { bins: 5, numerator: 'deaths' }, split: { workers: 2 } },
    ]);
  });

  it.each<[string, object, RegExp]>([
    ['workers 0', { key: KEY, workers: 0 }, /workers: must be at least 1 \(1 runs the file on one worker\)$/],
    ['workers 10001', { key: KEY, workers: 10_001 }, /workers: must be at most 10000 /],
    ['workers 2.5', { key: KEY, workers: 2.5 }, /workers: must be a whole number$/],
    ['workers "four"', { key: KEY, workers: 'four' }, /workers: must be a whole number from 1 to 10000$/],
    ['workers null', { key: KEY, workers: null }, /workers: must be a whole number from 1 to 10000$/],
    ['chunkBytes 4095', { key: KEY, chunkBytes: 4095 }, /chunkBytes: must be at least 4096 bytes \(4 KiB\)/],
    ['chunkBytes "1KiB"', { key: KEY, chunkBytes: '1KiB' }, /chunkBytes: must be at least 4096 bytes/],
    ['chunkBytes 8192.5', { key: KEY, chunkBytes: 8192.5 }, /chunkBytes: must be a whole number of bytes$/],
    ['chunkBytes "64XB"', { key: KEY, chunkBytes: '64XB' }, /chunkBytes: "64XB" has an unknown unit "XB"; give .*KiB/],
    ['chunkBytes "1.5B"', { key: KEY, chunkBytes: '1.5B' }, /chunkBytes: "1\.5B" is not a whole number of bytes/],
    [
      'chunkBytes true',
      { key: KEY, chunkBytes: true },
      /chunkBytes: must be a number of bytes or a size such as "64MiB"$/,
    ],
    ['both', { key: KEY, workers: 2, chunkBytes: 8192 }, /\(input\): give workers or chunkBytes, not both$/],
    ['a misspelt knob', { key: KEY, worker: 2 }, /\(input\): Unrecognized key: "worker"$/],
    ['chunk_bytes', { key: KEY, chunk_bytes: 8192 }, /\(input\): Unrecognized key: "chunk_bytes"$/],
  ])('refuses %s with INVALID_EVENT', (_label, event, message) => {
    let caught: unknown;
    try {
      parseRatesEvent(event, 'b');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as UserError).code).toBe('INVALID_EVENT');
    expect((caught as UserError).message).toMatch(
      /^Expected an S3 event or \{"key": .*"workers"\? or "chunkBytes"\?\}: /,
    );
    expect((caught as UserError).message).toMatch(message);
  });

  it('an S3 event carries no split (the upload metadata does)', () => {
    const event = {
      Records: [
        { eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'b' }, object: { key: KEY } } },
      ],
    };
    expect(parseRatesEvent(event, 'x')).toEqual([{ bucket: 'b', key: KEY }]);
  });
});
