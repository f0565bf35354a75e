import { CliError } from './cli-error.ts';
import { USAGE } from './help.ts';
import type { ParsedArgs } from './parser.ts';
import {
  COMMANDS,
  type CommandName,
  type CommandSpec,
  DASHBOARD,
  DEMO,
  type FlagSpec,
  isCommand,
  LOCAL,
  PRIMES,
  RATES,
  SCRAPE,
  SPECS,
} from './spec.ts';

export { CliError } from './cli-error.ts';

/** A command's help, laid out by commander from its spec; commander is loaded only when a command's help is asked for. */
async function printHelp(name: CommandName): Promise<number> {
  const { buildCommand } = await import('./parser.ts');
  process.stdout.write(buildCommand(SPECS[name]).helpInformation());
  return 0;
}

/**
 * Runs one command line. Its arguments are checked first (cli/args/<command>.ts, on commander) and only then is the
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

type Runner = (args: string[]) => Promise<number>;

/**
 * How each command but bench runs: its flags, its checks (cli/args/<command>.ts) and the module that does the work.
 * Every import is dynamic and names one command's module, so a command loads neither another command's code nor
 * (for `--help`) its own checks.
 */
const RUNNERS: Record<Exclude<CommandName, 'bench'>, Runner> = {
  local: judging(LOCAL, async (p) => (await import('./args/local.ts')).localRequest(p))(async (r) =>
    (await import('./local.ts')).localCommand(r),
  ),
  rates: judging(RATES, async (p) => (await import('./args/rates.ts')).ratesRequest(p))(async (r) =>
    (await import('./rates.ts')).ratesCommand(r),
  ),
  primes: judging(PRIMES, async (p) => (await import('./args/primes.ts')).primesRequest(p))(async (r) =>
    (await import('./primes.ts')).primesCommand(r),
  ),
  scrape: judging(SCRAPE, async (p) => (await import('./args/scrape.ts')).scrapeRequest(p))(async (r) =>
    (await import('./scrape.ts')).scrapeCommand(r),
  ),
  dashboard: judging(DASHBOARD, async (p) => (await import('./args/dashboard.ts')).dashboardRequest(p))(async (r) =>
    (await import('./dashboard.ts')).dashboardCommand(r),
  ),
  demo: judging(DEMO, async (p) => (await import('./args/demo.ts')).demoRequest(p))(async (r) =>
    (await import('./demo.ts')).demoCommand(r),
  ),
};

/**
 * `judging(spec, judge)(run)`: commander parses the flags first (`--help` is answered there); the command's checks
 * (cli/args/<command>.ts, with lib's schemas) are loaded only to `judge` the flags of a command that runs, and the
 * command's module only once its request is judged, in `run`. Two calls rather than one so that each command's
 * entry above reads as its checks, then its work.
 */
function judging<F extends Record<string, FlagSpec>, R>(
  spec: CommandSpec<F>,
  judge: (parsed: ParsedArgs<F>) => Promise<R>,
): (run: (request: R) => Promise<number>) => Runner {
  return (run) => async (args) => {
    const { parseFlags } = await import('./parser.ts');
    const parsed = parseFlags(spec, args);
    if (parsed.help) return printHelp(spec.name);
    return run(await judge(parsed));
  };
}

async function runCommand(command: CommandName, args: string[]): Promise<number> {
  if (command !== 'bench') return RUNNERS[command](args);
  // bench parses its own arguments (bench/index.ts).
  if (args[0] === '--help' || args[0] === '-h') return printHelp('bench');
  const { runBench } = await import('../bench/index.ts');
  return runBench(args);
}
