/** `primes`'s arguments: the range and its split, judged by the fan-out's own schema. */
import { primesRunSchema, type PrimesRunInput } from '../../lib/primes/run-input.ts';
import { parseFlags, type ParsedArgs } from '../parser.ts';
import { checkOutDir } from '../rates-files.ts';
import { PRIMES } from '../spec.ts';
import { checkArgs, flagIssues, integerOption } from '../values.ts';
import { HELP, type HelpRequest, invalid, noPositionals } from './common.ts';

const PRIMES_FLAGS = {
  start: 'start',
  end: 'end',
  chunks: 'chunks',
  chunkSize: 'chunk-size',
  backend: 'backend',
  concurrency: 'concurrency',
  chunksPerInstance: 'chunks-per-instance',
} as const;

export interface PrimesRequest {
  input: PrimesRunInput;
  json: boolean;
  /** --out: where the run's timeline and summary go too. */
  outDir?: string;
}

export function parsePrimesArgs(args: string[]): PrimesRequest | HelpRequest {
  const parsed = parseFlags(PRIMES, args);
  return parsed.help ? HELP : primesRequest(parsed);
}

/** The `primes` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function primesRequest({ values, positionals }: ParsedArgs<typeof PRIMES.flags>): PrimesRequest {
  return checkArgs('primes', () => {
    noPositionals('primes', positionals, '; use --start S --end E');
    const missing = (['start', 'end'] as const).filter((flag) => values[flag] === undefined);
    if (missing.length > 0)
      throw invalid(`primes needs ${missing.map((flag) => `--${flag}`).join(' and ')}, e.g. --start 1e8 --end 1.01e8`);
    if (values.chunks !== undefined && values['chunk-size'] !== undefined)
      throw invalid('give --chunks or --chunk-size, not both');
    const backend = values.backend ?? 'lambda';
    if (values['chunks-per-instance'] !== undefined && backend !== 'ec2')
      throw invalid('--chunks-per-instance applies to --backend ec2 only');
    const raw: Record<string, unknown> = { backend };
    for (const [field, flag] of Object.entries(PRIMES_FLAGS)) {
      if (field === 'backend') continue;
      const value = integerOption(
        values[flag],
        `--${flag}`,
        field === 'start' || field === 'end' ? '100000000 or 1e8' : undefined,
      );
      if (value !== undefined) raw[field] = value;
    }
    const parsed = primesRunSchema.safeParse(raw);
    if (!parsed.success) {
      const names = Object.entries(PRIMES_FLAGS).map(([field, flag]) => [
        field,
        { flag: `--${flag}`, value: values[flag], word: field === 'start' || field === 'end' },
      ]);
      throw flagIssues(parsed.error, Object.fromEntries(names));
    }
    const input = parsed.data;
    if (input.chunks === undefined && input.chunkSize === undefined) input.chunks = 2;
    const request: PrimesRequest = { input, json: values.json === true };
    if (values.out !== undefined) request.outDir = checkOutDir(values.out);
    return request;
  });
}
