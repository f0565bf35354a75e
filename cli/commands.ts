import { CliError } from './cli-error.ts';
import { USAGE } from './help.ts';
import { COMMANDS, DEMO, isCommand, LOCAL, PRIMES, RATES, SCRAPE, SPECS, type CommandName } from './spec.ts';

export { CliError } from './cli-error.ts';

/** A command's help, laid out by commander from its spec; commander is loaded only when a command's help is asked for. */
async function printHelp(name: CommandName): Promise<number> {
  const { buildCommand } = await import('./parser.ts');
  process.stdout.write(buildCommand(SPECS[name]).helpInformation());
  return 0;
}

/**
 * Runs one command line. Its arguments are checked first (cli/args.ts, on commander) and only then is the
 * command's module loaded and run: a refused command line starts nothing, and fails before the heavy modules (SDK
 * clients, the chart renderer, the MongoDB driver) are even loaded. `cloud-parallel --help` loads nothing but the
 * specs.
 */
export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
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
      if (!isCommand(topic)) throw new CliError(`no help for ${JSON.stringify(topic)}: not a command`, 'USAGE', USAGE);
      if (extra.length > 0)
        throw new CliError(
          `help takes one command, got ${rest.map((a) => JSON.stringify(a)).join(', ')}`,
          'USAGE',
          USAGE,
        );
      return printHelp(topic);
    }
    default:
      if (!isCommand(command))
        throw new CliError(
          `unknown command ${JSON.stringify(command)}; the commands are ${COMMANDS.join(', ')}`,
          'USAGE',
          USAGE,
        );
      return runCommand(command, rest);
  }
}

async function runCommand(command: CommandName, args: string[]): Promise<number> {
  // Commander parses first; lib's schemas (cli/args.ts) are loaded only to judge the flags of a command that runs.
  const { parseFlags } = await import('./parser.ts');
  const judge = () => import('./args.ts');
  switch (command) {
    case 'local': {
      const parsed = parseFlags(LOCAL, args);
      if (parsed.help) return printHelp(command);
      const request = (await judge()).localRequest(parsed);
      return (await import('./local.ts')).localCommand(request);
    }
    case 'rates': {
      const parsed = parseFlags(RATES, args);
      if (parsed.help) return printHelp(command);
      const request = (await judge()).ratesRequest(parsed);
      return (await import('./rates.ts')).ratesCommand(request);
    }
    case 'primes': {
      const parsed = parseFlags(PRIMES, args);
      if (parsed.help) return printHelp(command);
      const request = (await judge()).primesRequest(parsed);
      return (await import('./primes.ts')).primesCommand(request);
    }
    case 'scrape': {
      const parsed = parseFlags(SCRAPE, args);
      if (parsed.help) return printHelp(command);
      const request = (await judge()).scrapeRequest(parsed);
      return (await import('./scrape.ts')).scrapeCommand(request);
    }
    case 'demo': {
      const parsed = parseFlags(DEMO, args);
      if (parsed.help) return printHelp(command);
      (await judge()).demoRequest(parsed);
      return (await import('./demo.ts')).demoCommand();
    }
    case 'bench': {
      // bench parses its own arguments (bench/index.ts).
      if (args[0] === '--help' || args[0] === '-h') return printHelp('bench');
      const { runBench } = await import('../bench/index.ts');
      return runBench(args);
    }
  }
}
