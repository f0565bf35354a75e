/**
 * The rate's shortest round-trip printing alone (issue 16 names it as the likely hot spot): the row kernel's printer
 * (WebAssembly, lib/rates/wasm/rows.ts) against `Number.prototype.toString`, on the rates of the benchmark's own
 * file, in turns, in this process, each rate followed by a \n. Two forms of toString: the string alone (what V8's
 * own shortest printing costs) and the string copied into an output buffer (what the core would have to do with it).
 */
import { readFileSync } from 'node:fs';
import { formatTable } from '../cli/format.ts';
import { rowKernel } from '../lib/rates/row-kernel.ts';
import { median } from './report.ts';

/** cancer / population of every row of a county file (last two columns, no quoting in them). */
export function ratesOfCountyFile(file: string): Float64Array {
  const text = readFileSync(file, 'latin1');
  const rates: number[] = [];
  let start = text.indexOf('\n') + 1;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const lastComma = text.lastIndexOf(',', end);
    const prevComma = text.lastIndexOf(',', lastComma - 1);
    rates.push(Number(text.slice(prevComma + 1, lastComma)) / Number(text.slice(lastComma + 1, end)));
    start = end + 1;
  }
  return Float64Array.from(rates);
}

type Printer = (rates: Float64Array, out: Uint8Array) => number;

const OURS = 'the row kernel (WebAssembly, bytes)';

const PRINTERS: Record<string, Printer> = {
  [OURS]: (rates, out) => {
    const kernel = rowKernel();
    if (kernel === null) throw new Error('the row kernel did not load: run `npm run build:wasm`');
    return kernel.printRates(rates, out);
  },
  'String(x), copied to bytes': (rates, out) => {
    let o = 0;
    for (let i = 0; i < rates.length; i++) {
      const s = String(rates[i]);
      for (let k = 0; k < s.length; k++) out[o++] = s.charCodeAt(k);
      out[o++] = 10;
    }
    return o;
  },
  'String(x) alone': (rates) => {
    let n = 0;
    for (let i = 0; i < rates.length; i++) n += String(rates[i]).length + 1;
    return n;
  },
};

/** Prints the medians of `rounds` turns; fails if the printers disagree on the output's length. */
export function benchShortestNumber(rates: Float64Array, rounds: number): void {
  const out = new Uint8Array(rates.length * 26);
  const times = new Map<string, number[]>(Object.keys(PRINTERS).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    let bytes = -1;
    for (const [name, print] of Object.entries(PRINTERS)) {
      const t0 = performance.now();
      const n = print(rates, out);
      times.get(name)?.push(performance.now() - t0);
      if (bytes !== -1 && n !== bytes) throw new Error(`${name} printed ${n} bytes, the others ${bytes}`);
      bytes = n;
    }
  }
  const ours = median(times.get(OURS) ?? []);
  process.stdout.write(
    `\nshortest printing of the rate alone: ${rates.length.toLocaleString('en-US')} rates of that file, median of ${rounds}, in turns\n` +
      formatTable(
        ['printer', 'median', 'per rate', '÷ ours'],
        [...times].map(([name, t]) => [
          name,
          `${median(t).toFixed(1)} ms`,
          `${((median(t) * 1e6) / rates.length).toFixed(0)} ns`,
          `${(median(t) / ours).toFixed(2)}×`,
        ]),
      ),
  );
}
