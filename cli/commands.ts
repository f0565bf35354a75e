import { demoCommand } from './demo.ts';
import { localCommand } from './local.ts';
import { primesCommand } from './primes.ts';
import { ratesCommand } from './rates.ts';
import { scrapeCommand } from './scrape.ts';
import { CliError, USAGE } from './shared.ts';

export { CliError } from './shared.ts';

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'local':
      return localCommand(rest);
    case 'rates':
      return ratesCommand(rest);
    case 'primes':
      return primesCommand(rest);
    case 'scrape':
      return scrapeCommand(rest);
    case 'demo':
      return demoCommand();
    case 'bench': {
      const { runBench } = await import('../bench/index.ts');
      return runBench(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      throw new CliError(`unknown command "${command}"\n\n${USAGE}`);
  }
}
