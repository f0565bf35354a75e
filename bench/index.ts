import { UserError } from '../lib/errors.ts';
import { benchChart } from './chart.ts';
import { benchCli } from './cli.ts';
import { benchPrimesFanout } from './primes-fanout.ts';
import { benchPrimes } from './primes.ts';
import { benchRatesCore } from './rates-core.ts';
import { benchRatesCorePeers } from './rates-core-peers.ts';
import { benchRatesParallel } from './rates-parallel.ts';
import { benchRates } from './rates.ts';
import { benchScrape } from './scrape.ts';

const BENCHES: Record<string, (args: string[]) => Promise<number>> = {
  rates: benchRates,
  primes: async (args) => (await benchPrimes(args)) || (await benchPrimesFanout(args)),
  'rates-core': async (args) => {
    // --rows/--runs/--keep: the same-run comparison with Polars, DuckDB and pandas; --rss=sizes (or none): the
    // in-process runs that measure peak RSS as the row count grows.
    const flag = (name: string, fallback: string): string =>
      args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
    await benchRatesCorePeers({
      rows: Number(flag('rows', '1000000')),
      runs: Number(flag('runs', '5')),
      keep: args.includes('--keep'),
    });
    const rss = flag('rss', '1000000,10000000');
    for (const rows of rss === 'none' ? [] : rss.split(',').map(Number)) {
      const r = await benchRatesCore(rows);
      process.stdout.write(
        `rates core in process (parse + rate + stats, output counted): ${r.rows.toLocaleString('en-US')} rows in ${r.ms} ms, ` +
          `peak RSS ${r.peakRssMb} MB (${r.baselineRssMb} MB before the job)\n`,
      );
    }
    return 0;
  },
  'rates-parallel': benchRatesParallel,
  chart: benchChart,
  cli: benchCli,
  scrape: benchScrape,
};

/** `npm run bench -- [name] [options]`: one benchmark by name, or all of them. */
export async function runBench(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name !== undefined && !name.startsWith('--')) {
    const bench = BENCHES[name];
    if (!bench)
      throw new UserError(
        'INVALID_ARGUMENT',
        `unknown benchmark "${name}"; choose one of: ${Object.keys(BENCHES).join(', ')}`,
      );
    return bench(rest);
  }
  let code = 0;
  for (const bench of Object.values(BENCHES)) code ||= await bench(args);
  return code;
}
