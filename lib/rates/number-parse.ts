/**
 * Numbers in CSV fields as the careful path reads them, with a reason for the user when one is no number. (The plain
 * decimals that make up nearly every row are read straight from the bytes by the row kernel, wasm/rows.ts, to the
 * same double: m / 10^k with both exact is one correctly rounded division, as Number(text) is.)
 */

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
