import { UserError } from './errors.ts';

/**
 * "4,294,967,297 bytes (4.0 GiB)": a size in a message a person reads, exact (a limit and a size just over it
 * would otherwise read the same) and at a glance.
 */
export function formatBytes(bytes: number): string {
  const exact = `${bytes.toLocaleString('en-US')} bytes`;
  const units = [
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
  ] as const;
  const unit = units.find(([size]) => bytes >= size);
  return unit === undefined ? exact : `${exact} (${(bytes / unit[0]).toFixed(1)} ${unit[1]})`;
}

/** A size in MiB with one decimal, for lines that compare sizes at a glance (progress, where bytes came from). */
export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** The sizes {@link parseByteSize} takes, named in its refusals (and in the CLI's help). */
export const BYTE_SIZE_FORMS =
  'a whole number of bytes, or a number and a unit: B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB ' +
  '(powers of 1000), e.g. 65536, 64MiB, 1.5 MB';

const BYTE_UNITS: Record<string, bigint> = {
  b: 1n,
  kib: 1024n,
  mib: 1024n ** 2n,
  gib: 1024n ** 3n,
  tib: 1024n ** 4n,
  kb: 1000n,
  mb: 1000n ** 2n,
  gb: 1000n ** 3n,
  tb: 1000n ** 4n,
};

// Digits, an optional fraction, an optional single space, an optional unit. No sign, exponent or separators: a
// size is typed, and `1e6` or `-5` is more likely a slip than a wish.
const BYTE_SIZE = /^(\d+)(?:\.(\d+))? ?([a-z]+)?$/i;

/**
 * "64MiB" → 67108864, "1.5 MB" → 1500000, "4096" → 4096. KB is 1000 bytes, as SI (and disk makers) say, KiB 1024:
 * a user who wrote one of them meant it. A fraction is allowed only where it names a whole number of bytes, and the
 * result must be a safe integer. Anything else throws a UserError (INVALID_INPUT) naming the accepted forms.
 */
export function parseByteSize(text: string): number {
  const read = readByteSize(text);
  if ('refusal' in read) throw new UserError('INVALID_INPUT', read.refusal);
  return read.bytes;
}

/** {@link parseByteSize}'s verdict as a value, for a zod schema to report as an issue of its field. */
export function readByteSize(text: string): { bytes: number } | { refusal: string } {
  const refuse = (why: string) => ({ refusal: `${JSON.stringify(text.slice(0, 60))} ${why}; give ${BYTE_SIZE_FORMS}` });
  const match = BYTE_SIZE.exec(text);
  if (match === null) return refuse('is not a size');
  const [, whole = '', fraction = '', unit = 'b'] = match;
  const scale = BYTE_UNITS[unit.toLowerCase()];
  if (scale === undefined) return refuse(`has an unknown unit "${unit}"`);
  // Exact arithmetic: 1.1 TB is 1100000000000 bytes, not what 1.1 * 1e12 rounds to.
  const scaled = BigInt(whole + fraction) * scale;
  const divisor = 10n ** BigInt(fraction.length);
  if (scaled % divisor !== 0n) return refuse('is not a whole number of bytes');
  const bytes = scaled / divisor;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) return refuse(`is more than ${Number.MAX_SAFE_INTEGER} bytes`);
  return { bytes: Number(bytes) };
}
