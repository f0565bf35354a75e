import { parseDemoArgs, parseLocalArgs, parsePrimesArgs, parseRatesArgs, parseScrapeArgs, type HelpRequest } from './args.ts';
import { COMMANDS, CliError, USAGE, usageOf, type CommandName } from './shared.ts';

export { CliError } from './shared.ts';

const isHelp = (request: object): request is HelpRequest => 'help' in request;

/**
 * Runs one command line. Its arguments are checked first (cli/args.ts) and only then is the command's module
 * loaded and run: a refused command line starts nothing, and fails before the heavy modules (SDK clients, the
 * chart renderer, the MongoDB driver) are even loaded.
 */
export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const help = (name: CommandName) => {
    process.stdout.write(usageOf(name));
    return 0;
  };
  switch (command) {
    case 'local': {
      const request = parseLocalArgs(rest);
      return isHelp(request) ? help('local') : (await import('./local.ts')).localCommand(request);
    }
    case 'rates': {
      const request = parseRatesArgs(rest);
      return isHelp(request) ? help('rates') : (await import('./rates.ts')).ratesCommand(request);
    }
    case 'primes': {
      const request = parsePrimesArgs(rest);
      return isHelp(request) ? help('primes') : (await import('./primes.ts')).primesCommand(request);
    }
    case 'scrape': {
      const request = parseScrapeArgs(rest);
      return isHelp(request) ? help('scrape') : (await import('./scrape.ts')).scrapeCommand(request);
    }
    case 'demo': {
      const request = parseDemoArgs(rest);
      return isHelp(request) ? help('demo') : (await import('./demo.ts')).demoCommand();
    }
    case 'bench': {
      if (rest[0] === '--help' || rest[0] === '-h') return help('bench');
      const { runBench } = await import('../bench/index.ts');
      return runBench(rest);
    }
    case undefined:
      // No command: the usage is the answer, but the command line was still a mistake.
      process.stderr.write(USAGE);
      return 1;
    case 'help':
    case '--help':
    case '-h': {
      const [topic, ...extra] = rest;
      if (topic === undefined) {
        process.stdout.write(USAGE);
        return 0;
      }
      if (!(COMMANDS as readonly string[]).includes(topic)) throw new CliError(`no help for ${JSON.stringify(topic)}: not a command`, 'USAGE', USAGE);
      if (extra.length > 0) throw new CliError(`help takes one command, got ${rest.map((a) => JSON.stringify(a)).join(', ')}`, 'USAGE', USAGE);
      return help(topic as CommandName);
    }
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)}; the commands are ${COMMANDS.join(', ')}`, 'USAGE', USAGE);
  }
}
