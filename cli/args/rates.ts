/** `rates`'s arguments: the CSV file, the job's options, the split, where the results go and how long to wait. */
import { binCount, columnName } from '../../lib/config.ts';
import { chunkBytesSchema, type RatesSplit, workersSchema } from '../../lib/rates/split.ts';
import { parseFlags, type ParsedArgs } from '../parser.ts';
import { checkInputFile, checkOutDir } from '../rates-files.ts';
import { RATES } from '../spec.ts';
import { checkArgs, flagIssues, integerOption, shown } from '../values.ts';
import { HELP, type HelpRequest, invalid } from './common.ts';

/** The longest wait for a run: the EC2 deadline's limit (EC2_DEADLINE_SECONDS, lib/config.ts), one day. */
export const MAX_TIMEOUT_SECONDS = 86_400;
const SECONDS = /^\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i;

export interface RatesRequest {
  file: string;
  options: { bins?: number; numerator?: string; denominator?: string };
  backend: 'lambda' | 'ec2';
  /** --workers / --chunk-size, by lib's split rules; absent when neither was given (the deployment decides). */
  split?: RatesSplit;
  outDir?: string;
  timeoutMs: number;
  json: boolean;
}

export function parseRatesArgs(args: string[]): RatesRequest | HelpRequest {
  const parsed = parseFlags(RATES, args);
  return parsed.help ? HELP : ratesRequest(parsed);
}

/** The `rates` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function ratesRequest({ values, positionals }: ParsedArgs<typeof RATES.flags>): RatesRequest {
  return checkArgs('rates', () => {
    if (positionals.length === 0)
      throw invalid('rates needs a CSV file: cloud-parallel rates <file.csv> [--bins N] ...');
    if (positionals.length > 1)
      throw invalid(
        `rates takes one CSV file, got ${positionals.length}: ${positionals.map((p) => shown(p)).join(', ')}`,
      );

    const backend = values.backend ?? 'lambda';
    if (backend !== 'lambda' && backend !== 'ec2')
      throw invalid(`--backend must be lambda or ec2, got ${shown(backend)}`);

    const options: RatesRequest['options'] = {};
    if (values.bins !== undefined) {
      const bins = binCount.safeParse(integerOption(values.bins, '--bins'));
      if (!bins.success) throw flagIssues(bins.error, { '': { flag: '--bins', value: values.bins } });
      options.bins = bins.data;
    }
    for (const flag of ['numerator', 'denominator'] as const) {
      const value = values[flag];
      if (value === undefined) continue;
      const parsed = columnName.safeParse(value);
      if (!parsed.success) throw flagIssues(parsed.error, { '': { flag: `--${flag}`, value } });
      // The Lambda run takes its options from the upload's S3 user metadata (x-amz-meta-numerator): HTTP header
      // values, which S3 keeps as sent only in printable ASCII (the SDK refuses most other characters outright).
      if (backend === 'lambda' && /[^\x20-\x7e]/.test(parsed.data)) {
        throw invalid(
          `--${flag} ${shown(value)} cannot travel to the rates function: the lambda backend passes it as S3 object metadata, ` +
            'which carries printable ASCII only; use --backend ec2 for this column',
        );
      }
      options[flag] = parsed.data;
    }

    const split = ratesSplit(values);

    let timeoutSeconds = 300;
    if (values.timeout !== undefined) {
      timeoutSeconds = SECONDS.test(values.timeout) ? Number(values.timeout) : Number.NaN;
      if (!(timeoutSeconds > 0 && timeoutSeconds <= MAX_TIMEOUT_SECONDS)) {
        throw invalid(
          `--timeout must be a number of seconds, more than 0 and at most ${MAX_TIMEOUT_SECONDS} (a day), got ${shown(values.timeout)}`,
        );
      }
    }

    const request: RatesRequest = {
      file: checkInputFile(positionals[0]!, backend, split),
      options,
      backend,
      timeoutMs: timeoutSeconds * 1000,
      json: values.json === true,
    };
    if (split !== undefined) request.split = split;
    if (values.out !== undefined) request.outDir = checkOutDir(values.out);
    return request;
  });
}

/** --workers N or --chunk-size SIZE, judged by the rules the job applies to them again (lib/rates/split.ts). */
function ratesSplit(values: ParsedArgs<typeof RATES.flags>['values']): RatesSplit | undefined {
  const { workers, 'chunk-size': chunkSize } = values;
  if (workers !== undefined && chunkSize !== undefined) throw invalid('give --workers or --chunk-size, not both');
  let split: RatesSplit | undefined;
  if (workers !== undefined) {
    const parsed = workersSchema.safeParse(integerOption(workers, '--workers'));
    if (!parsed.success) throw flagIssues(parsed.error, { '': { flag: '--workers', value: workers } });
    split = { workers: parsed.data };
  }
  if (chunkSize !== undefined) {
    const parsed = chunkBytesSchema.safeParse(chunkSize);
    if (!parsed.success) throw flagIssues(parsed.error, { '': { flag: '--chunk-size', value: chunkSize } });
    split = { chunkBytes: parsed.data };
  }
  return split;
}
