/** `scrape`'s arguments: the source and what to fetch from it, judged by the scrape run's own schema. */
import { scrapeInputSchema, type ScrapeInput } from '../../lib/scrape/input.ts';
import { parseFlags, type ParsedArgs } from '../parser.ts';
import { SCRAPE } from '../spec.ts';
import { checkArgs, flagIssues, integerOption, shown } from '../values.ts';
import { HELP, type HelpRequest, invalid, noPositionals } from './common.ts';

/**
 * `cities` as people type them on a command line. A `;` separates cities when present; otherwise commas do, and a
 * two-letter state or country code after a comma stays with its city: "San Francisco, CA, Austin, TX" is two cities.
 */
export function splitCities(text: string): string[] {
  if (text.includes(';'))
    return text
      .split(';')
      .map((c) => c.trim())
      .filter(Boolean);
  const cities: string[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    if (/^[A-Z]{2}$/.test(part) && cities.length > 0) cities[cities.length - 1] += `, ${part}`;
    else cities.push(part);
  }
  return cities;
}

const IDS_HINT = 'a range such as 1-20 or a list such as 1,5,9';

/** `--ids`: "A-B" goes to lib as is (it checks the range before expanding it); a list becomes numbers. */
function hnIds(text: string): string | number[] {
  if (/^\s*\d+\s*-\s*\d+\s*$/.test(text)) return text;
  const parts = text.split(',').map((part) => part.trim());
  if (parts.some((part) => !/^\d+$/.test(part))) throw invalid(`--ids must be ${IDS_HINT}, got ${shown(text)}`);
  return parts.map((part) => {
    const id = Number(part);
    if (!Number.isSafeInteger(id))
      throw invalid(`--ids: ${part} is not an item id (at most ${Number.MAX_SAFE_INTEGER})`);
    return id;
  });
}

export interface ScrapeRequest {
  input: ScrapeInput;
  json: boolean;
}

export function parseScrapeArgs(args: string[]): ScrapeRequest | HelpRequest {
  const parsed = parseFlags(SCRAPE, args);
  return parsed.help ? HELP : scrapeRequest(parsed);
}

/** The `scrape` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function scrapeRequest({ values, positionals }: ParsedArgs<typeof SCRAPE.flags>): ScrapeRequest {
  return checkArgs('scrape', () => {
    noPositionals('scrape', positionals);
    const names: Record<string, { flag: string; value?: string | undefined }> = {
      concurrency: { flag: '--concurrency', value: values.concurrency },
    };
    const input: Record<string, unknown> = {};
    if (values.source === 'yelp') {
      if (values.ids !== undefined) throw invalid('--ids is for --source hn; Yelp takes --cities');
      if (values.cities === undefined && values.city === undefined)
        throw invalid('--source yelp needs --cities, e.g. --cities "Austin, TX; Chicago, IL"');
      const cities = [...(values.cities === undefined ? [] : splitCities(values.cities)), ...(values.city ?? [])];
      input.source = 'yelp';
      input.cities = cities;
      const flag = values.city === undefined ? '--cities' : values.cities === undefined ? '--city' : '--cities/--city';
      names.cities = { flag, value: values.city === undefined ? values.cities : undefined };
      names.limit = { flag: '--limit', value: values.limit };
      const limit = integerOption(values.limit, '--limit');
      if (limit !== undefined) input.limit = limit;
    } else if (values.source === 'hn') {
      if (values.cities !== undefined || values.city !== undefined || values.limit !== undefined) {
        throw invalid('--cities/--city/--limit are for --source yelp; HN takes --ids 1-20 or --ids 1,5,9');
      }
      if (values.ids === undefined) throw invalid('--source hn needs --ids, e.g. --ids 1-20');
      input.source = 'hn';
      input.ids = hnIds(values.ids);
      names.ids = { flag: '--ids', value: values.ids };
    } else {
      throw invalid(`--source must be yelp or hn${values.source === undefined ? '' : `, got ${shown(values.source)}`}`);
    }
    const concurrency = integerOption(values.concurrency, '--concurrency');
    if (concurrency !== undefined) input.concurrency = concurrency;
    const parsed = scrapeInputSchema.safeParse(input);
    if (!parsed.success) throw flagIssues(parsed.error, names);
    return { input: parsed.data, json: values.json === true };
  });
}
