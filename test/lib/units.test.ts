/** Sizes as people type them (--chunk-size, chunkBytes): exact, with SI and binary units told apart. */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../lib/errors.ts';
import { formatBytes, parseByteSize } from '../../lib/units.ts';

describe('parseByteSize', () => {
  it.each<[string, number]>([
    ['0', 0],
    ['4096', 4096],
    ['1B', 1],
    ['4KiB', 4096],
    ['64MiB', 67_108_864],
    ['64 MiB', 67_108_864],
    ['64mib', 67_108_864],
    ['64MIB', 67_108_864],
    ['1GiB', 1_073_741_824],
    ['2TiB', 2_199_023_255_552],
    // SI units are powers of 1000, whatever their case: `kb` is not 1024 here (unlike the `bytes` package).
    ['1KB', 1000],
    ['1kb', 1000],
    ['5 MB', 5_000_000],
    ['3GB', 3_000_000_000],
    ['1TB', 1_000_000_000_000],
    // Fractions that name whole bytes, computed exactly (1.1 * 1e12 in floating point is 1100000000000.0002).
    ['1.5MiB', 1_572_864],
    ['1.5 MB', 1_500_000],
    ['1.1TB', 1_100_000_000_000],
    ['0.5KiB', 512],
    ['2.0', 2],
    ['8191TiB', 8191 * 1024 ** 4],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each<[string, RegExp]>([
    [
      '',
      /^"" is not a size; give a whole number of bytes, or a number and a unit: B, KiB, MiB, GiB, TiB \(powers of 1024\) or KB, MB, GB, TB \(powers of 1000\)/,
    ],
    ['abc', /^"abc" is not a size/],
    ['MiB', /^"MiB" is not a size/],
    ['-5', /^"-5" is not a size/],
    ['+5', /^"\+5" is not a size/],
    ['1e6', /^"1e6" is not a size/],
    ['64XB', /^"64XB" has an unknown unit "XB"/],
    ['64M', /^"64M" has an unknown unit "M"/],
    ['64 k', /^"64 k" has an unknown unit "k"/],
    ['64  MiB', /^"64 {2}MiB" is not a size/],
    [' 64MiB', /^" 64MiB" is not a size/],
    ['64MiB ', /^"64MiB " is not a size/],
    ['1,000', /^"1,000" is not a size/],
    ['1_000', /^"1_000" is not a size/],
    ['.5MiB', /^"\.5MiB" is not a size/],
    ['1.MiB', /^"1\.MiB" is not a size/],
    ['0x10', /^"0x10" is not a size/],
    ['1.5B', /^"1\.5B" is not a whole number of bytes/],
    ['1.0001KB', /^"1\.0001KB" is not a whole number of bytes/],
    ['0.3KiB', /^"0\.3KiB" is not a whole number of bytes/],
    ['9007199254740992', /is more than 9007199254740991 bytes/],
    ['8192TiB', /^"8192TiB" is more than 9007199254740991 bytes/],
    ['Infinity', /^"Infinity" is not a size/],
    ['64iB', /^"64iB" has an unknown unit "iB"/],
    ['64 bytes', /^"64 bytes" has an unknown unit "bytes"/],
  ])('refuses %j', (text, message) => {
    let caught: unknown;
    try {
      parseByteSize(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as UserError).code).toBe('INVALID_INPUT');
    expect((caught as UserError).message).toMatch(message);
    expect((caught as UserError).message).toMatch(/e\.g\. 65536, 64MiB, 1\.5 MB$/);
  });

  it('reads back what formatBytes prints', () => {
    expect(
      parseByteSize(
        formatBytes(64 * 1024 ** 2)
          .replace(/^.*\((.*)\)$/, '$1')
          .replace(' ', ''),
      ),
    ).toBe(64 * 1024 ** 2);
  });
});
