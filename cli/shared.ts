import { parseArgs } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { UserError } from '../lib/errors.ts';
import { stackEnvironment, startStack, stopStack, type StackOptions, type StackState } from '../local-stack/stack.ts';
import { interruptSignal, onInterrupt } from './interrupt.ts';

/** What every command shares: usage, flag parsing, progress lines and the local stack. */

export class CliError extends UserError {
  /**
   * `usage`: what to print after the message (on stderr, not in `--json` output) — the command's usage lines for
   * a mistake in its arguments.
   */
  constructor(
    message: string,
    code = 'USAGE',
    readonly usage?: string,
  ) {
    super(code, message);
  }
}

export const USAGE = `Usage: cloud-parallel <command>

  local start [--s3-port N] [--lambda-port N] [--ec2-port N] [--mongo-port N] [--api-port N]
                                                start the local stack (S3, Lambda, EC2, MongoDB, API fixture)
  local stop                                    stop what 'local start' started
  local status                                  show endpoints of the running stack
  local env                                     print 'export' lines pointing the AWS SDK/CLI at it
  rates <file.csv> [--bins N] [--numerator C] [--denominator C] [--backend lambda|ec2] [--out DIR] [--timeout S] [--json]
                                                upload a CSV, let the S3 trigger run the job (or one EC2 instance), print the summary
  primes --start S --end E [--chunks N | --chunk-size N] [--backend lambda|ec2|local] [--chunks-per-instance N] [--concurrency N] [--json]
                                                count the primes in [S, E) in parallel chunks (numbers: 1e8, 100000000)
  scrape --source yelp --cities "San Francisco, CA; Austin, TX" [--city NAME]... [--limit 20] [--concurrency N] [--json]
  scrape --source hn --ids 1-20 [--concurrency N] [--json]
                                                fetch concurrently from the (local) APIs, upsert into MongoDB
  demo                                          the whole system on the local stack, end to end
  bench [rates|rates-core|primes|scrape]        benchmarks (see README)

  cloud-parallel <command> --help               that command's usage
`;

/** The commands USAGE lists, in its order. */
export const COMMANDS = ['local', 'rates', 'primes', 'scrape', 'demo', 'bench'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** One command's lines of USAGE, ready to print after a mistake in its arguments (or for `<command> --help`). */
export function usageOf(command: CommandName): string {
  const lines: string[] = [];
  let current: string | undefined;
  for (const line of USAGE.split('\n')) {
    const head = /^ {2}(\S+) /.exec(line);
    if (head) current = head[1];
    if (current !== command || line.trim() === '') continue;
    lines.push(head ? `  cloud-parallel ${line.trim()}` : `      ${line.trim()}`);
  }
  return `Usage:\n${lines.join('\n')}\n(\`cloud-parallel help\` lists every command)\n`;
}

/** The commands whose output (and errors) `--json` turns into JSON. */
const JSON_COMMANDS = new Set<string>(['rates', 'primes', 'scrape']);

/** Whether this command line asked for JSON: a command that takes --json, and --json among its flags (not after `--`). */
export function wantsJson(argv: string[]): boolean {
  const [command, ...rest] = argv;
  if (command === undefined || !JSON_COMMANDS.has(command)) return false;
  const end = rest.indexOf('--');
  return (end === -1 ? rest : rest.slice(0, end)).includes('--json');
}

/** A value as a message shows it: quoted, escapes visible (`"\t"`), and cut short when long. */
export function shown(value: string, max = 60): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
}

export type FlagValues<T extends Record<string, FlagSpec>> = {
  [K in keyof T]?: T[K] extends { type: 'boolean' } ? boolean : T[K] extends { multiple: true } ? string[] : string;
};

export interface ParsedArgs<T extends Record<string, FlagSpec>> {
  values: FlagValues<T>;
  positionals: string[];
  /** `--help` or `-h` was given: the command prints its usage and does nothing else. */
  help: boolean;
}

/** A value that reads as a negative number (`--start -5`), not as a forgotten value followed by another flag. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * The command's flags, each refused with a message that names it: an unknown flag, a flag with no value
 * (`--limit` at the end, or followed by another flag), a value given to a switch (`--json=1`), a flag given twice
 * (unless `multiple`). Positionals are returned for the command to judge.
 */
export function parse<T extends Record<string, FlagSpec>>(command: CommandName, args: string[], options: T): ParsedArgs<T> {
  const fail = (message: string) => new CliError(message, 'INVALID_ARGUMENT', usageOf(command));
  const known = Object.keys(options);
  const listed = known.length === 0 ? `${command} takes no flags` : `${command} takes ${known.map((name) => `--${name}`).join(', ')}`;
  const { tokens } = parseArgs({
    args,
    options: Object.fromEntries(Object.entries(options).map(([name, spec]) => [name, { type: spec.type, multiple: spec.multiple ?? false }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (spec === undefined) {
      if (token.name === 'help' || token.rawName === '-h') {
        help = true;
        continue;
      }
      throw fail(`unknown flag ${token.rawName}; ${listed}`);
    }
    const flag = `--${token.name}`;
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw fail(`${flag} is a switch and takes no value, got ${flag}=${shown(token.value)}`);
      if (values[token.name] !== undefined) throw fail(`${flag} is given twice; give it once`);
      values[token.name] = true;
      continue;
    }
    const value = token.value;
    if (value === undefined || (!token.inlineValue && value.startsWith('-') && !NEGATIVE_NUMBER.test(value))) {
      throw fail(
        value === undefined
          ? `${flag} needs a value`
          : `${flag} needs a value, got the flag ${shown(value)} (for a value that starts with "-", write ${flag}=VALUE)`,
      );
    }
    const previous = values[token.name];
    if (spec.multiple) {
      values[token.name] = [...((previous as string[] | undefined) ?? []), value];
    } else if (previous !== undefined) {
      throw fail(`${flag} is given twice (${shown(String(previous))} and ${shown(value)}); give it once`);
    } else {
      values[token.name] = value;
    }
  }
  return { values: values as FlagValues<T>, positionals, help };
}

export function portOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) throw new CliError(`${flag} must be a TCP port (1-65535), got ${shown(value)}`, 'INVALID_ARGUMENT');
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
        if (other !== '' && (word || /[A-Z]/.test(other))) text = text.replaceAll(new RegExp(`(?<![\\w-])${other}\\b`, 'g'), otherFlag);
      }
      // The values of the flags the message is about: `--start "10" --end "1"` when it relates two of them.
      const about = Object.values(names).filter((name) => name.value !== undefined && new RegExp(`${name.flag}(?![\\w-])`).test(text));
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
    throw new CliError(error.message, error.code === 'INVALID_INPUT' ? 'INVALID_ARGUMENT' : error.code, usageOf(command));
  }
}

export const progress = (message: string) => process.stderr.write(`• ${message}\n`);

/**
 * startStack that Ctrl-C stops: a signal while it starts makes it stop what it spawned, and one after it started
 * the stack (not found it running) stops the stack. `stop` stops a stack this call started (once, however often it
 * is called: the command and the interrupt's clean-up may both call it); `release` ends the interrupt's claim (the
 * command stopped the stack itself, or hands it over to the user as `local start` does).
 */
export async function startStackInterruptibly(options: Omit<StackOptions, 'signal'>): Promise<{ state: StackState; started: boolean; stop: () => Promise<unknown>; release: () => void }> {
  const starting = startStack({ ...options, signal: interruptSignal });
  let stopping: Promise<unknown> | undefined;
  const stop = () => (stopping ??= stopStack(options));
  // Registered before the start is awaited: a signal during the start waits for startStack's own clean-up.
  const release = onInterrupt('stopping the local stack this command started', async () => {
    const [outcome] = await Promise.allSettled([starting]);
    if (outcome.status === 'fulfilled' && outcome.value.started) await stop();
  });
  try {
    const { state, started } = await starting;
    if (!started) release(); // someone else's stack: not ours to stop
    return { state, started, stop, release };
  } catch (error) {
    release(); // startStack stopped what it had spawned before rejecting
    throw error;
  }
}

/** Runs `work` against the local stack, starting it first if needed and stopping it after if we started it. */
export async function withStack<T>(work: (state: StackState, s3: S3Client) => Promise<T>, quiet = false): Promise<T> {
  const { state, started, stop, release } = await startStackInterruptibly({ onProgress: quiet ? () => undefined : progress });
  Object.assign(process.env, stackEnvironment(state));
  try {
    // Loaded here: the S3 client is heavy, and a command that refuses its arguments never needs it.
    const { createS3Client } = await import('../lib/aws/s3.ts');
    const value = await work(state, createS3Client());
    // Interrupted while working: whatever came back is partial; the interrupt's clean-up decides the exit (130).
    interruptSignal.throwIfAborted();
    return value;
  } finally {
    if (started) {
      // Interrupted: the interrupt's line on stderr has said so already.
      if (!quiet && !interruptSignal.aborted) progress('stopping the local stack this command started');
      await stop();
      release();
    }
  }
}

export function dataBucket(state: StackState): string {
  const bucket = state.service.environment.DATA_BUCKET ?? state.service.buckets[0];
  if (!bucket) throw new CliError('serverless.yml declares no data bucket (provider.environment.DATA_BUCKET)', 'CONFIG');
  return bucket;
}
