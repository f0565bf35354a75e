/** The scrape benchmark's report (see scrape.ts): the tables, the re-run line and the verdict on the target. */
import { formatTable } from '../cli/format.ts';
import { median } from './report.ts';
import {
  BUSINESSES,
  CITIES,
  LIMIT,
  TARGET_CONCURRENCY,
  TARGET_RATIO,
  type Options,
  type Sample,
} from './scrape-setup.ts';

const ms = (value: number): string => `${Math.round(value)} ms`;
const ms1 = (value: number): string => `${value.toFixed(1)} ms`;
/** `a ÷ b` as "1.234×", or "—" when b is 0 (a latency of 0 has no ideal). */
const times = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(3)}×` : '—');

/** What the benchmark measured, to report. */
export interface ScrapeMeasurements {
  byConcurrency: Map<number, Sample[]>;
  /** Median wall of the bare-fetch baseline per concurrency. */
  baselines: Map<number, number>;
  rerun: Sample[];
  /** Runs that lost documents. */
  lost: string[];
}

/** The report printed at the end; ends with FAILED lines when a run lost documents. */
export function scrapeReport(options: Options, { byConcurrency, baselines, rerun, lost }: ScrapeMeasurements): string {
  const latency = options.latencyMs;
  const ideal = (concurrency: number, requestsPerBusiness: number): number =>
    idealMs(concurrency, requestsPerBusiness, latency);
  const sequential = byConcurrency.get(1);
  const sequentialWall =
    sequential && sequential.length > 0 ? median(sequential.map((s) => s.result.wallMs)) : undefined;
  const { rows, phaseRows, ratios, overBaseline, walls } = concurrencyRows(
    latency,
    byConcurrency,
    baselines,
    sequentialWall,
  );

  const writePolicy =
    Object.keys(options.write).length === 0
      ? 'the writer defaults (a batch per max(16, C) records or per second)'
      : `write ${JSON.stringify(options.write)}`;
  let out =
    `\nscrape: ${BUSINESSES} businesses (${CITIES.length} cities × ${LIMIT}), fixture latency ${latency} ms per request, ` +
    `fixture and MongoDB server ${options.services === 'process' ? 'each in a process of their own' : 'inside the benchmark process'}, ` +
    `median of ${options.runs} runs per concurrency after 1 warm-up, each run into a fresh database (${BUSINESSES} inserts), ${writePolicy}\n` +
    formatTable(
      [
        'C',
        'wall (median)',
        'min–max',
        'requests/business',
        'ideal',
        'wall ÷ ideal',
        'floor ceil(req/C)×lat',
        'baseline (÷ ideal)',
        'wall ÷ baseline',
        'fixture maxConcurrent',
        'speedup vs C=1',
      ],
      rows,
    ) +
    `ideal = ceil(${BUSINESSES} / C) × latency × requests per business (requests = HTTP attempts: ${CITIES.length} searches + ${BUSINESSES} details, no retries)\n` +
    `the wall time includes the search phase (${CITIES.length} search requests, one per city, before any of that city's details), ` +
    `index creation and the MongoDB writes; floor = whole ${latency} ms requests packed into C slots, the least any schedule can take\n` +
    `baseline = the same requests in the same order through a bare bounded Promise.all over fetch (no validation, retries or ` +
    `database), median of runs alternating with the scraper's: what this machine charges per request, before the scraper's own work\n` +
    `\nwhere the time goes (medians, ms since the run started; details phase with its ideal ceil(${BUSINESSES}/C) × latency)\n` +
    formatTable(
      ['C', 'ensureIndexes', 'searches done at', 'details phase', 'write (after details)', 'after write'],
      phaseRows,
    );

  if (rerun.length > 0) {
    const c = Math.max(...options.concurrencies);
    const wall = median(rerun.map((s) => s.result.wallMs));
    const idealMs = ideal(c, median(rerun.map((s) => s.result.requests)) / BUSINESSES);
    out +=
      `\nre-run into the same database (all ${BUSINESSES} unchanged), C=${c}: median ${ms(wall)}, ${times(wall, idealMs)} ideal; ` +
      `write after details ${ms1(median(rerun.map((s) => s.writtenAt - s.detailsDoneAt)))}\n`;
  }
  const fastest = walls.get(TARGET_CONCURRENCY);
  if (sequentialWall !== undefined && fastest !== undefined) {
    out += `speedup C=${TARGET_CONCURRENCY} over sequential: ${(sequentialWall / fastest).toFixed(2)}× (${ms(sequentialWall)} → ${ms(fastest)})\n`;
  }
  out += targetVerdict(ratios.get(TARGET_CONCURRENCY), overBaseline.get(TARGET_CONCURRENCY));
  if (lost.length > 0)
    out += `FAILED: ${lost.length} run(s) lost documents:\n${lost.map((line) => `  ${line}\n`).join('')}`;
  return out;
}

/** ceil(BUSINESSES / C) × latency × requests per business: the wall time of perfect C-way overlap. */
function idealMs(concurrency: number, requestsPerBusiness: number, latency: number): number {
  return Math.ceil(BUSINESSES / concurrency) * latency * requestsPerBusiness;
}

/** The main table's row and the phase table's row of each concurrency, and the ratios the verdict needs. */
function concurrencyRows(
  latency: number,
  byConcurrency: ScrapeMeasurements['byConcurrency'],
  baselines: ScrapeMeasurements['baselines'],
  sequentialWall: number | undefined,
) {
  const ideal = (concurrency: number, requestsPerBusiness: number): number =>
    idealMs(concurrency, requestsPerBusiness, latency);
  const rows: string[][] = [];
  const phaseRows: string[][] = [];
  const ratios = new Map<number, number>();
  const overBaseline = new Map<number, number>();
  const walls = new Map<number, number>();
  for (const [concurrency, samples] of byConcurrency) {
    if (samples.length === 0) {
      rows.push([String(concurrency), 'no complete run']);
      continue;
    }
    const wall = median(samples.map((s) => s.result.wallMs));
    const requests = median(samples.map((s) => s.result.requests));
    const perBusiness = requests / BUSINESSES;
    const idealMs = ideal(concurrency, perBusiness);
    const floorMs = Math.ceil(requests / concurrency) * latency;
    if (idealMs > 0) ratios.set(concurrency, wall / idealMs);
    const baselineMs = baselines.get(concurrency) ?? Number.NaN;
    if (baselineMs > 0) overBaseline.set(concurrency, wall / baselineMs);
    const maxConcurrent = Math.max(...samples.map((s) => s.maxConcurrent));
    walls.set(concurrency, wall);
    rows.push([
      String(concurrency),
      ms(wall),
      `${ms(Math.min(...samples.map((s) => s.result.wallMs)))}–${ms(Math.max(...samples.map((s) => s.result.wallMs)))}`,
      perBusiness.toFixed(3),
      ms1(idealMs),
      times(wall, idealMs),
      `${ms(floorMs)} (${times(floorMs, idealMs)})`,
      `${ms(baselineMs)} (${times(baselineMs, idealMs)})`,
      times(wall, baselineMs),
      maxConcurrent > concurrency ? `${maxConcurrent} (over the bound!)` : String(maxConcurrent),
      sequentialWall === undefined ? '—' : `${(sequentialWall / wall).toFixed(2)}×`,
    ]);
    phaseRows.push(phaseRow(concurrency, samples, latency));
  }
  return { rows, phaseRows, ratios, overBaseline, walls };
}

/** Where the time of one concurrency's runs went (medians), the details phase beside its ideal. */
function phaseRow(concurrency: number, samples: Sample[], latency: number): string[] {
  const m = (pick: (s: Sample) => number): number => median(samples.map(pick));
  const detailsIdeal = Math.ceil(BUSINESSES / concurrency) * latency;
  return [
    String(concurrency),
    ms1(m((s) => s.indexesMs)),
    ms1(m((s) => s.searchDoneAt)),
    `${ms1(m((s) => s.detailsDoneAt - s.searchDoneAt))} (${ms(detailsIdeal)})`,
    ms1(m((s) => s.writtenAt - s.detailsDoneAt)),
    ms1(m((s) => s.returnedAt - s.writtenAt)),
  ];
}

/** The target's line: C=TARGET_CONCURRENCY against the ideal (`ratio`) and against the bare-fetch baseline. */
function targetVerdict(ratio: number | undefined, baselineRatio: number | undefined): string {
  const verdict = (value: number): string => `${value <= TARGET_RATIO ? 'MET' : 'NOT MET'} (${value.toFixed(3)}×)`;
  return ratio === undefined || baselineRatio === undefined
    ? `target (C=${TARGET_CONCURRENCY} ≤ ${TARGET_RATIO}×): not measured (C=${TARGET_CONCURRENCY} not run, no complete run, or latency 0)\n`
    : `target: C=${TARGET_CONCURRENCY} wall ≤ ${TARGET_RATIO}× the bare-fetch baseline — ${verdict(baselineRatio)}\n` +
        `        C=${TARGET_CONCURRENCY} wall ≤ ${TARGET_RATIO}× ideal — ${verdict(ratio)}; no run can go under the floor ` +
        `(1 search round + ceil(${BUSINESSES}/C) detail rounds), and the baseline shows what the machine adds per request\n`;
}
