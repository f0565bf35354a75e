/**
 * Numbers in CSV fields: a fast path straight from the bytes for the plain decimals that make up nearly every
 * row, and the careful path (with a reason for the user) for everything else.
 */
import { POW10 } from './float-bits.ts';

/**
 * Plain decimals with at most 15 significant digits, parsed straight from the bytes. m / 10^k with both
 * exact doubles is one correctly rounded division, hence identical to Number(text). Anything else
 * (whitespace, exponents, more digits, junk, empty) returns NaN for the caller's careful path.
 */
export function fastNumber(buf: Buffer, a: number, b: number): number {
  if (a >= b) return NaN;
  let i = a;
  let neg = false;
  const c0 = buf[i];
  if (c0 === 45) {
    neg = true;
    i++;
  } else if (c0 === 43) {
    i++;
  }
  let m = 0;
  let digits = 0;
  let dot = -1;
  for (; i < b; i++) {
    const c = buf[i] as number;
    const d = c - 48;
    if (d >= 0 && d <= 9) {
      m = m * 10 + d;
      digits++;
    } else if (c === 46 && dot === -1) {
      dot = digits;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  const v = dot === -1 || dot === digits ? m : m / (POW10[digits - dot] as number);
  return neg ? -v : v;
}
/**
 * Decimal numbers as data tools write them (`12`, ` -0.5 `, `1e3`, `.5`). Number() alone would also take
 * `0x1F`, `0b101` and `Infinity`, which in a CSV column are data errors, not numbers.
 */
const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** Parses one field; on failure pushes an actionable reason and returns null. */
export function parseField(name: string, text: string, problems: string[]): number | null {
  if (text.trim() === '') {
    problems.push(`${name} is empty`);
    return null;
  }
  const v = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (Number.isNaN(v)) {
    problems.push(`${name} is not a number: ${showValue(text)}`);
    return null;
  }
  if (!Number.isFinite(v)) {
    problems.push(`${name} is not a finite number: ${showValue(text)}`);
    return null;
  }
  return v;
}

export function showValue(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
