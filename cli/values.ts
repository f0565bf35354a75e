/**
 * Flag values as the CLI judges them, in one message style: numbers and ports as people type them, a lib schema's
 * verdict told in terms of flags, and the wrapper that turns whatever a command's checks refuse into a usage error.
 */
import type { z } from 'zod';
import { UserError } from '../lib/errors.ts';
import { CliError } from './cli-error.ts';
import { usageOf } from './help.ts';
import type { CommandName } from './spec.ts';

/** A value as a message shows it: quoted, escapes visible (`"\t"`), and cut short when long. */
export function shown(value: string, max = 60): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

export function portOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 1 && port <= 65535))
    throw new CliError(`${flag} must be a TCP port (1-65535), got ${shown(value)}`, 'INVALID_ARGUMENT');
  return port;
}

/** A decimal number as people type it: `100000000`, `1e8`, `1.01e8`, `1_000_000`, `-5` (no hex, no spaces). */
const DECIMAL = /^[+-]?(\d+(?:_\d+)*)(?:\.(\d+))?(?:e([+-]?\d+))?$/i;

/**
 * Whole numbers as people type them for ranges: `100000000`, `1e8`, `1.01e8`, `1_000_000`. Refused: anything
 * else (hex, spaces, `Infinity`), fractions, and numbers a JavaScript number cannot hold exactly (2^53 + 1 would
 * silently become 2^53) or at all (1e309).
 */
export function integerOption(value: string | undefined, flag: string, example?: string): number | undefined {
  if (value === undefined) return undefined;
  const fail = (rule: string) => new CliError(`${flag} ${rule}, got ${shown(value)}`, 'INVALID_ARGUMENT');
  const match = DECIMAL.exec(value);
  if (!match) throw fail(`must be a whole number${example ? ` (e.g. ${example})` : ''}`);
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isFinite(n)) throw fail('is too large for a number');
  if (!Number.isInteger(n)) throw fail('must be a whole number');
  if (Math.abs(n) > Number.MAX_SAFE_INTEGER && exactValue(match) !== BigInt(Math.abs(n))) {
    throw fail(`is above 2^53 (${2 ** 53}), beyond which whole numbers are not exact`);
  }
  return n === 0 ? 0 : n; // not -0
}

/** The magnitude a DECIMAL match denotes, exactly; null when it is not whole. */
function exactValue(match: RegExpExecArray): bigint | null {
  const [, whole = '', fraction = '', exponent = '0'] = match;
  const digits = BigInt(whole.replaceAll('_', '') + fraction);
  const scale = Number(exponent) - fraction.length;
  if (scale >= 0) return digits * 10n ** BigInt(scale);
  const divisor = 10n ** BigInt(-scale);
  return digits % divisor === 0n ? digits / divisor : null;
}

/**
 * What a flag stands for in a lib schema's input: `chunkSize` ← `--chunk-size "0"`. `word`: the field's name reads as
 * its flag wherever it stands alone in a message (`start must be ≤ end` → `--start must be ≤ --end`); names that
 * are not words (chunkSize) always do.
 */
export type FlagNames = Record<string, { flag: string; value?: string | undefined; word?: boolean }>;

/**
 * A lib schema's verdict on what the flags became, with each problem told in terms of its flags: lib's message
 * (`chunkSize must be at least 1`, `each city must be …`) with the field's flag in place of the field, the item
 * when it is one of a list, and the value(s) given.
 */
export function flagIssues(error: z.ZodError, names: FlagNames): CliError {
  const message = error.issues
    .map((issue) => {
      const field = String(issue.path[0] ?? '');
      const { flag, value } = names[field] ?? { flag: field === '' ? 'arguments' : `--${field}` };
      let text = issue.message.startsWith(`${field} `)
        ? `${flag} ${issue.message.slice(field.length + 1)}`
        : /^(must|is) /.test(issue.message)
          ? `${flag} ${issue.message}`
          : `${flag}: ${issue.message}`;
      if (typeof issue.path[1] === 'number') text += ` (item ${issue.path[1] + 1})`;
      for (const [other, { flag: otherFlag, word }] of Object.entries(names)) {
        if (other !== '' && (word || /[A-Z]/.test(other)))
          text = text.replaceAll(new RegExp(`(?<![\\w-])${other}\\b`, 'g'), otherFlag);
      }
      // The values of the flags the message is about: `--start "10" --end "1"` when it relates two of them.
      const about = Object.values(names).filter(
        (name) => name.value !== undefined && new RegExp(`${name.flag}(?![\\w-])`).test(text),
      );
      if (about.length > 1) text += `, got ${about.map((name) => `${name.flag} ${shown(name.value!)}`).join(' ')}`;
      else if (value !== undefined && !text.includes(shown(value))) text += `, got ${shown(value)}`;
      return text;
    })
    .join('; ');
  return new CliError(message, 'INVALID_ARGUMENT');
}

/**
 * Runs a command's argument checks; whatever they refuse is a usage error: INVALID_ARGUMENT (lib's INVALID_INPUT
 * included) with the command's usage to print after the message. Nothing else may have happened yet.
 */
export function checkArgs<T>(command: CommandName, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof UserError) || (error instanceof CliError && error.usage !== undefined)) throw error;
    throw new CliError(
      error.message,
      error.code === 'INVALID_INPUT' ? 'INVALID_ARGUMENT' : error.code,
      usageOf(command),
    );
  }
}
