/**
 * The start form's request: an urlencoded body of a few fields, judged as the `scrape` command's flags are
 * (cli/args.ts scrapeRequest), so the page refuses exactly what the CLI refuses, with the same words.
 */
import type http from 'node:http';
import { scrapeRequest } from '../../../cli/args/scrape.ts';
import { UserError } from '../../../lib/errors.ts';
import type { ScrapeInput } from '../../../lib/scrape/input.ts';
import type { ScrapeFormValues } from './form-view.ts';

/** Far more than the fields need (100 cities of 256 characters would be ~26 KiB, urlencoded more). */
export const MAX_FORM_BYTES = 128 * 1024;

export class FormTooLarge extends UserError {
  constructor() {
    super('FORM_TOO_LARGE', `The form is larger than ${MAX_FORM_BYTES / 1024} KiB`);
  }
}

export async function readForm(req: http.IncomingMessage): Promise<ScrapeFormValues> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_FORM_BYTES) throw new FormTooLarge();
    chunks.push(chunk);
  }
  const fields = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  const field = (name: string): string | undefined => {
    const value = fields.get(name)?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const values: ScrapeFormValues = {};
  for (const name of ['source', 'cities', 'limit', 'ids'] as const) {
    const value = field(name);
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/**
 * The scrape the form asks for, or a UserError in the CLI's words. Only the chosen source's fields are judged:
 * the other source's fields may still hold what was typed before switching.
 */
export function scrapeInputFromForm(values: ScrapeFormValues): ScrapeInput {
  const flags =
    values.source === 'hn'
      ? { source: 'hn', ids: values.ids }
      : values.source === 'yelp'
        ? { source: 'yelp', cities: values.cities, limit: values.limit }
        : { source: values.source };
  const defined = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined));
  return scrapeRequest({ values: defined, positionals: [], help: false }).input;
}
