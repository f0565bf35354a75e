/**
 * Bad input on the command line (issue 7): every command and every flag of `cloud-parallel`.
 *
 * A refused command line is a CliError (a UserError: no stack frames) whose message names the flag, says what is
 * allowed and shows what was given, with the command's usage to print after it; the binary prints both on stderr
 * and exits 1 (with --json: `{"error": {"code", "message"}}` on stdout), as every refused input has since the CLI
 * began (README "Running the rates job"); 2 stays for bugs and outages.
 *
 * In process, the tables run each command line through `runCli` with the local stack's start and stop replaced by
 * functions that throw: a command line that got past its checks would fail with that error instead, and nothing
 * may be written to stdout or stderr (no partial result, no progress line). The binary runs a handful of them with
 * its environment pointing nowhere — a state directory of its own, stack ports that are not ports — so a command
 * that tried to start the stack would fail with an error naming those variables, and leave files behind.
 */
import { execFile } from 'node:child_process';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDashboardArgs } from '../../cli/args/dashboard.ts';
import { parseDemoArgs } from '../../cli/args/demo.ts';
import { parseLocalArgs } from '../../cli/args/local.ts';
import { parsePrimesArgs } from '../../cli/args/primes.ts';
import { parseRatesArgs } from '../../cli/args/rates.ts';
import { parseScrapeArgs } from '../../cli/args/scrape.ts';
import { runCli } from '../../cli/commands.ts';
import { CliError } from '../../cli/cli-error.ts';
import { USAGE } from '../../cli/help.ts';
import { wantsJson } from '../../cli/spec.ts';
import { UserError } from '../../lib/errors.ts';
import { startStack, stopStack } from '../../local-stack/stack.ts';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import { closedPort, expectNoStackTrace, STACK_FRAME } from '../support/bad-input.ts';

vi.mock('../../local-stack/stack.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../local-stack/stack.ts')>();
  const refuse = () => {
    throw new Error('the local stack must not be started (or stopped) for a command line that is refused');
  };
  return { ...actual, startStack: vi.fn(refuse), stopStack: vi.fn(refuse) };
});

const run = promisify(execFile);
const CLI = path.join(PROJECT_ROOT, 'cli/bin.js');
const PORT_VARIABLES = ['S3', 'LAMBDA', 'EC2', 'MONGO', 'API', 'DASHBOARD'].map(
  (service) => `CLOUD_PARALLEL_${service}_PORT`,
);

// Made while the tables are built (they name these paths), removed after the file's tests.
const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-bad-cli-'));
const csv = path.join(dir, 'counties.csv');
writeFileSync(csv, 'cancer,population\n1,100\n');
const gz = path.join(dir, 'counties.csv.gz');
writeFileSync(gz, gzipSync('cancer,population\n1,100\n'));
mkdirSync(path.join(dir, 'folder.csv'));
const missing = path.join(dir, 'missing.csv');
/** Sparse files just over each backend's input limit: no disk used, but stat reports their size. */
const sparse = (name: string, bytes: number): string => {
  const file = path.join(dir, name);
  const fd = openSync(file, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
  return file;
};
const overLambdaLimit = sparse('over-lambda.csv', 4 * 1024 ** 3 + 1);
const overEc2Limit = sparse('over-ec2.csv', 5 * 1024 ** 3 + 1);
const notMade = path.join(dir, 'out-never-made');

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  // Ports and the state directory as a developer's shell might set them must not change what is refused.
  for (const variable of PORT_VARIABLES) vi.stubEnv(variable, '');
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.mocked(startStack).mockClear();
  vi.mocked(stopStack).mockClear();
});

/** Runs a command line that must be refused; returns the error, after checking what every refusal must be. */
async function refusal(argv: string[]): Promise<CliError> {
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  let error: unknown;
  try {
    const code = await runCli(argv);
    throw new Error(`expected ${JSON.stringify(argv)} to be refused; it ran and returned ${code}`);
  } catch (e) {
    error = e;
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  expect(error).toBeInstanceOf(CliError);
  // Refused before anything happened: no stack, no output (no partial result, no progress line).
  expect(startStack).not.toHaveBeenCalled();
  expect(stopStack).not.toHaveBeenCalled();
  expect(stdout).not.toHaveBeenCalled();
  expect(stderr).not.toHaveBeenCalled();
  const cliError = error as CliError;
  expect(cliError.message).not.toMatch(STACK_FRAME);
  expect(cliError.stack).toBe(`UserError: ${cliError.message}`);
  expect(cliError.message).not.toContain('Usage'); // the usage goes after the message on stderr, never into --json
  expect(cliError.usage).toBeDefined();
  return cliError;
}

/** [label, the arguments after the command, the error code, the message] */
type Case = [string, string[], string, RegExp];

function refuses(command: string, cases: Case[]): void {
  it.each(cases)('%s', async (_label, args, code, message) => {
    const error = await refusal([command, ...args]);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    // The usage printed with it is the command's own (a few lines, not the whole list).
    expect(error.usage).toMatch(new RegExp(`^Usage:\\n {2}cloud-parallel ${command} `));
    expect(error.usage).toContain('`cloud-parallel help` lists every command');
  });
}

const BAD = 'INVALID_ARGUMENT';

describe('the command itself', () => {
  it.each<[string, string[], RegExp]>([
    [
      'an unknown command',
      ['frob'],
      /^unknown command "frob"; the commands are local, rates, primes, scrape, dashboard, demo, bench$/,
    ],
    ['a command in capitals', ['PRIMES', '--start', '0', '--end', '10'], /^unknown command "PRIMES"/],
    ['an empty command', [''], /^unknown command ""/],
    ['a unicode command', ['prímes'], /^unknown command "prímes"/],
    ['a flag where the command goes', ['--json', 'primes'], /^unknown command "--json"/],
    ['help for what is not a command', ['help', 'frob'], /^no help for "frob": not a command$/],
    ['help for two commands', ['help', 'primes', 'rates'], /^help takes one command, got "primes", "rates"$/],
  ])('%s', async (_label, argv, message) => {
    const error = await refusal(argv);
    expect(error.code).toBe('USAGE');
    expect(error.message).toMatch(message);
    expect(error.usage).toBe(USAGE);
  });

  it('no command at all prints the usage on stderr and exits 1', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runCli([])).toBe(1);
      expect(stderr).toHaveBeenCalledWith(USAGE);
      expect(stdout).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
    }
  });

  it.each([
    ['help'],
    ['--help'],
    ['-h'],
    ['help', 'scrape'],
    ['scrape', '--help'],
    ['local', 'start', '-h'],
    ['demo', '--help'],
    ['bench', '--help'],
  ])('control: %s prints usage on stdout and exits 0, starting nothing', async (...argv) => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(argv)).toBe(0);
      expect(stdout).toHaveBeenCalledWith(expect.stringMatching(/^Usage/));
      expect(startStack).not.toHaveBeenCalled();
    } finally {
      stdout.mockRestore();
    }
  });

  it('an unknown benchmark is refused by bench before it runs anything', async () => {
    const error = await runCli(['bench', 'frob']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({
      code: BAD,
      message: 'unknown benchmark "frob"; choose one of: rates, primes, rates-core, rates-parallel, chart, cli, scrape',
    });
    expect(startStack).not.toHaveBeenCalled();
  });

  it.each<[string[], boolean]>([
    [['primes', '--start', '0', '--end', '1', '--json'], true],
    [['rates', 'f.csv', '--json', '--bins', '0'], true],
    [['scrape', '--json'], true],
    [['primes', '--', '--json'], false], // after `--` it is a positional, not the switch
    [['demo', '--json'], false], // demo has no JSON output: its refusal is plain text
    [['local', 'status', '--json'], false],
    [['--json'], false],
  ])('--json turns the error into JSON only where the command takes it: %j → %s', (argv, json) => {
    expect(wantsJson(argv)).toBe(json);
  });
});

describe('local', () => {
  const PORT = /^--s3-port must be a TCP port \(1-65535\), got /;
  refuses('local', [
    ['no subcommand', [], BAD, /^local needs one of: start, stop, status, env$/],
    ['an unknown subcommand', ['frob'], BAD, /^unknown local command "frob"; use one of: start, stop, status, env$/],
    ['a subcommand in capitals', ['START'], BAD, /^unknown local command "START"/],
    ['an empty subcommand', [''], BAD, /^unknown local command ""/],
    ['an argument after status', ['status', 'extra'], BAD, /^local status takes no further arguments, got "extra"$/],
    ['two subcommands', ['start', 'stop'], BAD, /^local start takes no further arguments, got "stop"$/],
    ['a port flag on stop', ['stop', '--s3-port', '4000'], BAD, /^--s3-port applies to local start only$/],
    ['a port flag on env', ['env', '--api-port', '4000'], BAD, /^--api-port applies to local start only$/],
    ['a port flag on status', ['status', '--mongo-port=27018'], BAD, /^--mongo-port applies to local start only$/],
    ['--s3-port at the end', ['start', '--s3-port'], BAD, /^--s3-port needs a value$/],
    [
      '--s3-port followed by a flag',
      ['start', '--s3-port', '--lambda-port', '4001'],
      BAD,
      /^--s3-port needs a value, got the flag "--lambda-port"/,
    ],
    ['port 0', ['start', '--s3-port', '0'], BAD, PORT],
    ['port 65536', ['start', '--s3-port', '65536'], BAD, PORT],
    ['a negative port', ['start', '--s3-port', '-1'], BAD, PORT],
    ['a port that is not a number', ['start', '--s3-port', 'abc'], BAD, PORT],
    ['a fractional port', ['start', '--s3-port', '80.5'], BAD, PORT],
    ['a hex port', ['start', '--s3-port', '0x50'], BAD, PORT],
    ['a port in exponent notation', ['start', '--s3-port', '8e3'], BAD, PORT],
    [
      'a port with spaces',
      ['start', '--s3-port', ' 8080 '],
      BAD,
      /^--s3-port must be a TCP port \(1-65535\), got " 8080 "$/,
    ],
    ['an empty port', ['start', '--s3-port='], BAD, /^--s3-port must be a TCP port \(1-65535\), got ""$/],
    [
      'full-width digits',
      ['start', '--ec2-port', '８０８０'],
      BAD,
      /^--ec2-port must be a TCP port \(1-65535\), got "８０８０"$/,
    ],
    ['a huge port', ['start', '--lambda-port', '99999999999999999999'], BAD, /^--lambda-port must be a TCP port/],
    ['a port 1e309', ['start', '--mongo-port', '1e309'], BAD, /^--mongo-port must be a TCP port/],
    [
      'a port given twice',
      ['start', '--s3-port', '4000', '--s3-port', '4001'],
      BAD,
      /^--s3-port is given twice \("4000" and "4001"\); give it once$/,
    ],
    [
      'one port for two services',
      ['start', '--s3-port', '4600', '--lambda-port', '4600'],
      BAD,
      /^port 4600 is given to more than one service \(--s3-port, --lambda-port\); each needs its own port$/,
    ],
    [
      "a port that is another service's default",
      ['start', '--s3-port', '3002'],
      BAD,
      /^port 3002 is given to more than one service \(--s3-port, the default --lambda-port\)/,
    ],
    [
      'an unknown flag',
      ['start', '--frob'],
      BAD,
      /^unknown flag --frob; local takes --s3-port, --lambda-port, --ec2-port, --mongo-port, --api-port, --dashboard-port$/,
    ],
    ['--json (local has no JSON output)', ['status', '--json'], BAD, /^unknown flag --json; local takes /],
    ['a short flag', ['start', '-p', '4000'], BAD, /^unknown flag -p; local takes /],
  ]);

  it('a stack port from the environment that is not a port is refused by local start, before anything starts', async () => {
    vi.stubEnv('CLOUD_PARALLEL_EC2_PORT', 'soon');
    const error = await refusal(['local', 'start']);
    expect(error).toMatchObject({
      code: 'LOCAL_STACK',
      message: 'CLOUD_PARALLEL_EC2_PORT="soon" is not a TCP port (1-65535)',
    });
  });

  it('control: valid subcommands and ports', () => {
    expect(parseLocalArgs(['start', '--s3-port', '4600', '--api-port=4601'])).toEqual({
      action: 'start',
      ports: { s3Port: 4600, apiPort: 4601 },
    });
    expect(parseLocalArgs(['status'])).toEqual({ action: 'status', ports: {} });
  });
});

describe('rates', () => {
  const bins = (value: string): string[] => [csv, '--bins', value];
  const BINS_WHOLE = /^--bins must be a whole number, got /;
  const TIMEOUT = /^--timeout must be a number of seconds, more than 0 and at most 86400 \(a day\), got /;
  refuses('rates', [
    // The file
    ['no file', [], BAD, /^rates needs a CSV file: cloud-parallel rates <file\.csv> \[--bins N\] \.\.\.$/],
    ['two files', [csv, csv], BAD, /^rates takes one CSV file, got 2: ".*counties\.csv", ".*counties\.csv"$/],
    ['a file that does not exist', [missing], 'FILE_NOT_FOUND', /^no such file: .*missing\.csv$/],
    [
      'a directory',
      [path.join(dir, 'folder.csv')],
      'NOT_A_FILE',
      /folder\.csv is a directory; rates needs a CSV file$/,
    ],
    ['a device', ['/dev/null'], 'NOT_A_FILE', /^\/dev\/null is not a regular file; rates needs a CSV file$/],
    ['a path through a file', [path.join(csv, 'x.csv')], 'FILE_NOT_FOUND', /^no such file: /],
    [
      "a file over one lambda worker's input limit, forced onto one worker",
      [overLambdaLimit, '--workers', '1'],
      'FILE_TOO_LARGE',
      /over-lambda\.csv is 4,294,967,297 bytes \(4\.0 GiB\), over the 4,294,967,296 bytes \(4\.0 GiB\) one worker of the lambda backend takes: drop --workers 1, so it is split across workers$/,
    ],
    [
      "a file over the ec2 backend's one-PUT output limit, on one instance",
      [overEc2Limit, '--backend', 'ec2'],
      'FILE_TOO_LARGE',
      /over-ec2\.csv is 5,368,709,121 bytes \(5\.0 GiB\), over the 5,368,709,120 bytes \(5\.0 GiB\) one worker of the ec2 backend takes \(its rates\.csv goes up in one S3 PUT\): split it across instances with --workers N or --chunk-size SIZE$/,
    ],
    ['an empty file name', [''], BAD, /^the CSV file name is empty, got ""$/],
    ['a whitespace-only file name', ['   '], BAD, /^the CSV file name is empty, got " {3}"$/],
    [
      'a unicode file name that does not exist',
      ['données-漢字.csv'],
      'FILE_NOT_FOUND',
      /^no such file: données-漢字\.csv$/,
    ],
    ['flags are checked before the file', [missing, '--bins', '0'], BAD, /^--bins must be at least 1, got "0"$/],
    // --bins (binCount, lib/config.ts)
    ['--bins at the end', [csv, '--bins'], BAD, /^--bins needs a value$/],
    ['--bins 0', bins('0'), BAD, /^--bins must be at least 1, got "0"$/],
    ['--bins -3', bins('-3'), BAD, /^--bins must be at least 1, got "-3"$/],
    ['--bins 1001', bins('1001'), BAD, /^--bins must be at most 1000, got "1001"$/],
    ['--bins 2.5', bins('2.5'), BAD, /^--bins must be a whole number, got "2\.5"$/],
    ['--bins abc', bins('abc'), BAD, BINS_WHOLE],
    ['--bins ""', [csv, '--bins='], BAD, /^--bins must be a whole number, got ""$/],
    ['--bins " 5 "', bins(' 5 '), BAD, BINS_WHOLE],
    ['--bins 0x10', bins('0x10'), BAD, BINS_WHOLE],
    ['--bins Infinity', bins('Infinity'), BAD, BINS_WHOLE],
    ['--bins NaN', bins('NaN'), BAD, BINS_WHOLE],
    ['--bins 1e309', bins('1e309'), BAD, /^--bins is too large for a number, got "1e309"$/],
    [
      '--bins 2^53+1',
      bins('9007199254740993'),
      BAD,
      /^--bins is above 2\^53 \(9007199254740992\), beyond which whole numbers are not exact, got "9007199254740993"$/,
    ],
    [
      '--bins given twice',
      [csv, '--bins', '5', '--bins', '6'],
      BAD,
      /^--bins is given twice \("5" and "6"\); give it once$/,
    ],
    // --numerator / --denominator (columnName, lib/config.ts)
    [
      'a whitespace-only --numerator',
      [csv, '--numerator', '   '],
      BAD,
      /^--numerator must be a non-empty CSV column name, got " {3}"$/,
    ],
    ['an empty --numerator', [csv, '--numerator='], BAD, /^--numerator must be a non-empty CSV column name, got ""$/],
    [
      'a 300-character --denominator',
      [csv, '--denominator', 'd'.repeat(300)],
      BAD,
      /^--denominator must be at most 256 characters, got "d{60}…"$/,
    ],
    [
      'a unicode --numerator on Lambda',
      [csv, '--numerator', '漢字'],
      BAD,
      /^--numerator "漢字" cannot travel to the rates function: the lambda backend passes it as S3 object metadata, which carries printable ASCII only; use --backend ec2 for this column$/,
    ],
    [
      'a --denominator with a newline on Lambda',
      [csv, '--denominator', 'a\nb'],
      BAD,
      /^--denominator "a\\nb" cannot travel to the rates function/,
    ],
    ['--numerator given twice', [csv, '--numerator', 'a', '--numerator', 'b'], BAD, /^--numerator is given twice/],
    // --backend
    ['an unknown --backend', [csv, '--backend', 'gpu'], BAD, /^--backend must be lambda or ec2, got "gpu"$/],
    ['an empty --backend', [csv, '--backend='], BAD, /^--backend must be lambda or ec2, got ""$/],
    ['--backend in capitals', [csv, '--backend', 'LAMBDA'], BAD, /^--backend must be lambda or ec2, got "LAMBDA"$/],
    [
      '--backend local (primes only)',
      [csv, '--backend', 'local'],
      BAD,
      /^--backend must be lambda or ec2, got "local"$/,
    ],
    // --workers / --chunk-size (lib/rates/split.ts; sizes: lib/units.ts parseByteSize)
    [
      '--workers 0',
      [csv, '--workers', '0'],
      BAD,
      /^--workers must be at least 1 \(1 runs the file on one worker\), got "0"$/,
    ],
    [
      '--workers 10001',
      [csv, '--workers', '10001'],
      BAD,
      /^--workers must be at most 10000 \(one multipart upload takes at most that many parts\), got "10001"$/,
    ],
    ['--workers 2.5', [csv, '--workers', '2.5'], BAD, /^--workers must be a whole number, got "2\.5"$/],
    ['--workers four', [csv, '--workers', 'four'], BAD, /^--workers must be a whole number, got "four"$/],
    ['--workers -2', [csv, '--workers', '-2'], BAD, /^--workers must be at least 1 .*, got "-2"$/],
    ['--workers ""', [csv, '--workers='], BAD, /^--workers must be a whole number, got ""$/],
    ['--workers at the end', [csv, '--workers'], BAD, /^--workers needs a value$/],
    ['--workers given twice', [csv, '--workers', '2', '--workers', '3'], BAD, /^--workers is given twice/],
    [
      '--chunk-size under 4 KiB',
      [csv, '--chunk-size', '4095'],
      BAD,
      /^--chunk-size must be at least 4096 bytes \(4 KiB\): below that each chunk costs more than it parses, got "4095"$/,
    ],
    [
      '--chunk-size 1KiB',
      [csv, '--chunk-size', '1KiB'],
      BAD,
      /^--chunk-size must be at least 4096 bytes .*, got "1KiB"$/,
    ],
    [
      '--chunk-size with an unknown unit',
      [csv, '--chunk-size', '64XB'],
      BAD,
      /^--chunk-size: "64XB" has an unknown unit "XB"; give a whole number of bytes, or a number and a unit: B, KiB, MiB, GiB, TiB \(powers of 1024\) or KB, MB, GB, TB \(powers of 1000\), e\.g\. 65536, 64MiB, 1\.5 MB$/,
    ],
    ['--chunk-size 64M', [csv, '--chunk-size', '64M'], BAD, /^--chunk-size: "64M" has an unknown unit "M"; give /],
    ['--chunk-size -64MiB', [csv, '--chunk-size', '-64MiB'], BAD, /^--chunk-size: "-64MiB" is not a size; give /],
    ['--chunk-size 1e6', [csv, '--chunk-size', '1e6'], BAD, /^--chunk-size: "1e6" is not a size; give /],
    [
      '--chunk-size 4096.5',
      [csv, '--chunk-size', '4096.5'],
      BAD,
      /^--chunk-size: "4096\.5" is not a whole number of bytes/,
    ],
    ['--chunk-size ""', [csv, '--chunk-size='], BAD, /^--chunk-size: "" is not a size; give /],
    [
      '--chunk-size beyond 2^53',
      [csv, '--chunk-size', '9000TiB'],
      BAD,
      /^--chunk-size: "9000TiB" is more than 9007199254740991 bytes; give /,
    ],
    [
      '--workers and --chunk-size',
      [csv, '--workers', '2', '--chunk-size', '64MiB'],
      BAD,
      /^give --workers or --chunk-size, not both$/,
    ],
    ['a bad --workers on EC2', [csv, '--backend', 'ec2', '--workers', '0'], BAD, /^--workers must be at least 1 /],
    [
      'a .gz file on EC2 (its worker streams plain CSV only)',
      [gz, '--backend', 'ec2'],
      BAD,
      /counties\.csv\.gz is gzip-compressed, which only the lambda backend reads for now: use --backend lambda, or gunzip it first for --backend ec2$/,
    ],
    // --timeout
    ['--timeout 0', [csv, '--timeout', '0'], BAD, TIMEOUT],
    ['--timeout -1', [csv, '--timeout', '-1'], BAD, TIMEOUT],
    ['--timeout abc', [csv, '--timeout', 'abc'], BAD, TIMEOUT],
    ['--timeout ""', [csv, '--timeout='], BAD, TIMEOUT],
    ['--timeout " "', [csv, '--timeout', ' '], BAD, TIMEOUT],
    ['--timeout 1e309', [csv, '--timeout', '1e309'], BAD, TIMEOUT],
    ["--timeout 86401 (beyond the EC2 deadline's limit)", [csv, '--timeout', '86401'], BAD, TIMEOUT],
    ['--timeout Infinity', [csv, '--timeout', 'Infinity'], BAD, TIMEOUT],
    ['--timeout 0x10', [csv, '--timeout', '0x10'], BAD, TIMEOUT],
    // --out
    ['an empty --out', [csv, '--out='], BAD, /^--out needs a directory, got ""$/],
    ['--out naming a file', [csv, '--out', csv], BAD, /^--out must be a directory; .*counties\.csv is a file$/],
    [
      '--out under a file',
      [csv, '--out', path.join(csv, 'sub')],
      BAD,
      /^--out ".*" cannot be made: .*counties\.csv is a file$/,
    ],
    ['--out given twice', [csv, '--out', dir, '--out', dir], BAD, /^--out is given twice/],
    // --json, unknown flags
    ['--json with a value', [csv, '--json=true'], BAD, /^--json is a switch and takes no value, got --json="true"$/],
    ['--json twice', [csv, '--json', '--json'], BAD, /^--json is given twice; give it once$/],
    ['--json with a bad flag', [csv, '--json', '--bins', '0'], BAD, /^--bins must be at least 1, got "0"$/],
    [
      'an unknown flag',
      [csv, '--frob'],
      BAD,
      /^unknown flag --frob; rates takes --bins, --numerator, --denominator, --out, --timeout, --backend, --workers, --chunk-size, --json$/,
    ],
    ['a misspelt flag', [csv, '--bin', '5'], BAD, /^unknown flag --bin; rates takes /],
    ['a short flag', [csv, '-b', '5'], BAD, /^unknown flag -b; rates takes /],
    ['a unicode flag', [csv, '--bïns', '5'], BAD, /^unknown flag --bïns; rates takes /],
  ]);

  it('a refused command line makes no --out directory', async () => {
    await refusal(['rates', csv, '--out', notMade, '--bins', '0']);
    expect(existsSync(notMade)).toBe(false);
  });

  it('control: valid flags become the request', () => {
    expect(
      parseRatesArgs([csv, '--bins', '50', '--numerator', ' deaths ', '--out', notMade, '--timeout', '1.5', '--json']),
    ).toEqual({
      file: csv,
      options: { bins: 50, numerator: 'deaths' },
      backend: 'lambda',
      outDir: notMade,
      timeoutMs: 1500,
      json: true,
    });
    // A unicode column name travels in the EC2 task's JSON, not in S3 metadata.
    expect(parseRatesArgs([csv, '--numerator', 'décès 漢字', '--backend', 'ec2'])).toMatchObject({
      options: { numerator: 'décès 漢字' },
      backend: 'ec2',
    });
    expect(parseRatesArgs([csv, '--bins', '1e3'])).toMatchObject({ options: { bins: 1000 }, timeoutMs: 300_000 });
  });

  it.each<[string, string[], object]>([
    ['--workers 4', ['--workers', '4'], { workers: 4 }],
    ['--workers 1 (the single-worker path)', ['--workers', '1'], { workers: 1 }],
    ['--workers 1e4', ['--workers', '1e4'], { workers: 10_000 }],
    ['--chunk-size 64MiB', ['--chunk-size', '64MiB'], { chunkBytes: 67_108_864 }],
    ['--chunk-size "1.5 MB"', ['--chunk-size', '1.5 MB'], { chunkBytes: 1_500_000 }],
    ['--chunk-size 4kib (the smallest, any case)', ['--chunk-size', '4kib'], { chunkBytes: 4096 }],
    ['--chunk-size 4096', ['--chunk-size=4096'], { chunkBytes: 4096 }],
  ])('control: %s becomes the split', (_label, flags, split) => {
    expect(parseRatesArgs([csv, ...flags])).toEqual({
      file: csv,
      options: {},
      backend: 'lambda',
      split,
      timeoutMs: 300_000,
      json: false,
    });
  });

  it("control: a file over one worker's limit is taken when it will be split", () => {
    // The lambda backend splits it unasked (it is over ratesParallelAboveBytes); EC2 splits it when asked.
    expect(parseRatesArgs([overLambdaLimit])).toMatchObject({ file: overLambdaLimit, backend: 'lambda' });
    expect(parseRatesArgs([overEc2Limit, '--backend', 'ec2', '--workers', '4'])).toMatchObject({
      backend: 'ec2',
      split: { workers: 4 },
    });
  });

  it('control: a .gz file on the lambda backend, with a split (it runs on one worker; the command warns)', () => {
    expect(parseRatesArgs([gz, '--workers', '4'])).toMatchObject({
      file: gz,
      backend: 'lambda',
      split: { workers: 4 },
    });
  });

  it('a --chunk-size under 1 MiB is a warning on stderr, not a refusal: the command goes on to start the stack', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      // The mocked startStack throws: reaching it proves the command line was accepted.
      await expect(runCli(['rates', csv, '--chunk-size', '4KiB', '--json'])).rejects.toThrow(
        /the local stack must not be started/,
      );
      expect(stderr.mock.calls.map(([text]) => String(text))).toEqual([
        expect.stringMatching(/^cloud-parallel: warning: --chunk-size 4,096 bytes \(4\.0 KiB\) is under 1 MiB: .*\n$/),
      ]);
      expect(stdout).not.toHaveBeenCalled();
      expect(startStack).toHaveBeenCalledTimes(1);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
  });

  it('control: no warning from 1 MiB up', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(runCli(['rates', csv, '--chunk-size', '1MiB', '--json'])).rejects.toThrow(/must not be started/);
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
    }
  });

  it('control: no split flag, no split (the deployment decides); --workers 1 is allowed on EC2', () => {
    expect(parseRatesArgs([csv])).not.toHaveProperty('split');
    expect(parseRatesArgs([csv, '--backend', 'ec2', '--workers', '1'])).toMatchObject({
      backend: 'ec2',
      split: { workers: 1 },
    });
  });

  it('splits on EC2 too: --workers N and --chunk-size run the chunks on instances', () => {
    expect(parseRatesArgs([csv, '--backend', 'ec2', '--workers', '4'])).toMatchObject({
      backend: 'ec2',
      split: { workers: 4 },
    });
    expect(parseRatesArgs([csv, '--backend', 'ec2', '--chunk-size', '64MiB'])).toMatchObject({
      backend: 'ec2',
      split: { chunkBytes: 64 * 1024 * 1024 },
    });
  });
});

describe('primes', () => {
  const range = (...more: string[]): string[] => ['--start', '0', '--end', '1000', ...more];
  const START_WHOLE = /^--start must be a whole number \(e\.g\. 100000000 or 1e8\), got /;
  refuses('primes', [
    // Required flags, positionals
    ['no flags', [], BAD, /^primes needs --start and --end, e\.g\. --start 1e8 --end 1\.01e8$/],
    ['no --end', ['--start', '0'], BAD, /^primes needs --end, e\.g\./],
    ['no --start', ['--end', '10'], BAD, /^primes needs --start, e\.g\./],
    [
      'positional numbers',
      ['0', '10'],
      BAD,
      /^primes takes no positional arguments, got "0", "10"; use --start S --end E$/,
    ],
    ['a positional after the flags', [...range(), 'extra'], BAD, /^primes takes no positional arguments, got "extra"/],
    ['a positional after --', [...range(), '--', '--json'], BAD, /^primes takes no positional arguments, got "--json"/],
    // Missing values, repeats
    ['--start at the end', ['--end', '10', '--start'], BAD, /^--start needs a value$/],
    ['--start followed by a flag', ['--start', '--end', '10'], BAD, /^--start needs a value, got the flag "--end"/],
    [
      '--start given twice',
      ['--start', '1', '--start', '2', '--end', '10'],
      BAD,
      /^--start is given twice \("1" and "2"\); give it once$/,
    ],
    [
      '--end given twice, once inline',
      ['--start', '1', '--end', '5', '--end=6'],
      BAD,
      /^--end is given twice \("5" and "6"\)/,
    ],
    // Numbers
    ['--start abc', ['--start', 'abc', '--end', '10'], BAD, START_WHOLE],
    [
      '--start ""',
      ['--start=', '--end', '10'],
      BAD,
      /^--start must be a whole number \(e\.g\. 100000000 or 1e8\), got ""$/,
    ],
    ['--start " "', ['--start', ' ', '--end', '10'], BAD, START_WHOLE],
    ['--start 0x10', ['--start', '0x10', '--end', '100'], BAD, START_WHOLE],
    ['--start 0b11', ['--start', '0b11', '--end', '100'], BAD, START_WHOLE],
    ['--start "1 000"', ['--start', '1 000', '--end', '10000'], BAD, START_WHOLE],
    ['--start 1,000', ['--start', '1,000', '--end', '10000'], BAD, START_WHOLE],
    ['--start _1', ['--start', '_1', '--end', '10'], BAD, START_WHOLE],
    ['--start full-width digits', ['--start', '１０', '--end', '100'], BAD, START_WHOLE],
    ['--start 1.5', ['--start', '1.5', '--end', '10'], BAD, /^--start must be a whole number, got "1\.5"$/],
    ['--start 1e-3', ['--start', '1e-3', '--end', '10'], BAD, /^--start must be a whole number, got "1e-3"$/],
    ['--start Infinity', ['--start', 'Infinity', '--end', '10'], BAD, START_WHOLE],
    ['--start NaN', ['--start', 'NaN', '--end', '10'], BAD, START_WHOLE],
    ['a negative --start', ['--start', '-5', '--end', '10'], BAD, /^--start must be ≥ 0, got "-5"$/],
    ['--end 1e309', ['--start', '0', '--end', '1e309'], BAD, /^--end is too large for a number, got "1e309"$/],
    [
      '--end 2^53+1 (would round to 2^53)',
      ['--start', '0', '--end', '9007199254740993'],
      BAD,
      /^--end is above 2\^53 \(9007199254740992\), beyond which whole numbers are not exact, got "9007199254740993"$/,
    ],
    [
      '--end 2^53+2',
      ['--start', '0', '--end', '9007199254740994'],
      BAD,
      /^--end must be ≤ 2\^53 \(9007199254740992\), got "9007199254740994"$/,
    ],
    ['--end 1e17', ['--start', '0', '--end', '1e17'], BAD, /^--end must be ≤ 2\^53 \(9007199254740992\), got "1e17"$/],
    ['--end 1e300', ['--start', '0', '--end', '1e300'], BAD, /^--end is above 2\^53 \(9007199254740992\)/],
    [
      'start > end',
      ['--start', '10', '--end', '1'],
      BAD,
      /^--start must be ≤ --end \(the range is \[--start, --end\)\), got --start "10" --end "1"$/,
    ],
    // Splitting
    ['--chunks 0', range('--chunks', '0'), BAD, /^--chunks must be at least 1, got "0"$/],
    ['--chunks -1', range('--chunks', '-1'), BAD, /^--chunks must be at least 1, got "-1"$/],
    ['--chunks 1.5', range('--chunks', '1.5'), BAD, /^--chunks must be a whole number, got "1\.5"$/],
    ['--chunks 10001', range('--chunks', '10001'), BAD, /^--chunks must be at most 10000, got "10001"$/],
    ['--chunks 1e6', range('--chunks', '1e6'), BAD, /^--chunks must be at most 10000, got "1e6"$/],
    ['--chunks abc', range('--chunks', 'abc'), BAD, /^--chunks must be a whole number, got "abc"$/],
    ['--chunk-size 0', range('--chunk-size', '0'), BAD, /^--chunk-size must be at least 1, got "0"$/],
    [
      '--chunk-size 1 over 10^9 numbers',
      ['--start', '0', '--end', '1e9', '--chunk-size', '1'],
      BAD,
      /^--chunk-size 1 splits the range into 1000000000 chunks; at most 10000 are allowed — use a --chunk-size of at least 100000, got "1"$/,
    ],
    [
      '--chunks and --chunk-size',
      range('--chunks', '2', '--chunk-size', '5'),
      BAD,
      /^give --chunks or --chunk-size, not both$/,
    ],
    // Concurrency, backend
    ['--concurrency 0', range('--concurrency', '0'), BAD, /^--concurrency must be at least 1, got "0"$/],
    ['--concurrency 1001', range('--concurrency', '1001'), BAD, /^--concurrency must be at most 1000, got "1001"$/],
    ['--concurrency 2.5', range('--concurrency', '2.5'), BAD, /^--concurrency must be a whole number, got "2\.5"$/],
    [
      'an unknown --backend',
      range('--backend', 'gpu'),
      BAD,
      /^--backend must be one of: lambda, ec2, local, got "gpu"$/,
    ],
    ['an empty --backend', range('--backend='), BAD, /^--backend must be one of: lambda, ec2, local, got ""$/],
    [
      '--backend in capitals',
      range('--backend', 'EC2'),
      BAD,
      /^--backend must be one of: lambda, ec2, local, got "EC2"$/,
    ],
    ['--backend at the end', range('--backend'), BAD, /^--backend needs a value$/],
    [
      '--chunks-per-instance on Lambda',
      range('--chunks-per-instance', '2'),
      BAD,
      /^--chunks-per-instance applies to --backend ec2 only$/,
    ],
    [
      '--chunks-per-instance on local',
      range('--backend', 'local', '--chunks-per-instance', '2'),
      BAD,
      /^--chunks-per-instance applies to --backend ec2 only$/,
    ],
    [
      '--chunks-per-instance 65',
      range('--backend', 'ec2', '--chunks-per-instance', '65'),
      BAD,
      /^--chunks-per-instance must be at most 64, got "65"$/,
    ],
    [
      '--chunks-per-instance 0',
      range('--backend', 'ec2', '--chunks-per-instance', '0'),
      BAD,
      /^--chunks-per-instance must be at least 1, got "0"$/,
    ],
    // Several problems: each is named
    [
      'several bad values',
      range('--chunks', '1e5', '--concurrency', '1e6'),
      BAD,
      /^--chunks must be at most 10000, got "1e5"; --concurrency must be at most 1000, got "1e6"$/,
    ],
    // --json, unknown flags
    ['--json with a value', range('--json=yes'), BAD, /^--json is a switch and takes no value, got --json="yes"$/],
    [
      '--json with a bad range',
      ['--start', '5', '--end', 'ten', '--json'],
      BAD,
      /^--end must be a whole number \(e\.g\. 100000000 or 1e8\), got "ten"$/,
    ],
    [
      'an unknown flag',
      range('--frob'),
      BAD,
      /^unknown flag --frob; primes takes --start, --end, --chunks, --chunk-size, --backend, --concurrency, --chunks-per-instance, --out, --json$/,
    ],
    ['a misspelt flag', range('--chunk', '4'), BAD, /^unknown flag --chunk; primes takes /],
    ['a short flag', range('-s', '1'), BAD, /^unknown flag -s; primes takes /],
    // --out, judged as the rates command judges it
    ['an empty --out', range('--out='), BAD, /^--out needs a directory, got ""$/],
    ['--out naming a file', range('--out', csv), BAD, /^--out must be a directory; .*counties\.csv is a file$/],
  ]);

  it('control: --out becomes the request’s outDir', () => {
    expect(parsePrimesArgs(range('--backend', 'local', '--out', path.join(dir, 'timeline')))).toMatchObject({
      input: { backend: 'local' },
      outDir: path.join(dir, 'timeline'),
    });
  });

  it('control: the numbers people type, and the defaults', () => {
    expect(parsePrimesArgs(['--start', '1e8', '--end', '1.01e8'])).toEqual({
      input: { start: 100_000_000, end: 101_000_000, chunks: 2, backend: 'lambda' },
      json: false,
    });
    expect(
      parsePrimesArgs([
        '--start=1_000_000',
        '--end',
        '+2000000',
        '--chunk-size',
        '1000',
        '--backend',
        'local',
        '--json',
      ]),
    ).toEqual({
      input: { start: 1_000_000, end: 2_000_000, chunkSize: 1000, backend: 'local' },
      json: true,
    });
    // 2^53 is the largest end; written exactly, it is taken as it is.
    expect(parsePrimesArgs(['--start', '9007199254000000', '--end', '9007199254740992'])).toMatchObject({
      input: { start: 9007199254000000, end: 2 ** 53 },
    });
    expect(
      Object.is((parsePrimesArgs(['--start', '-0', '--end', '1']) as { input: { start: number } }).input.start, 0),
    ).toBe(true);
    expect(
      parsePrimesArgs(['--start', '0', '--end', '100', '--backend', 'ec2', '--chunks-per-instance', '4']),
    ).toMatchObject({ input: { chunksPerInstance: 4 } });
  });
});

describe('scrape', () => {
  const yelp = (...more: string[]): string[] => ['--source', 'yelp', '--cities', 'Austin, TX', ...more];
  const hn = (ids: string, ...more: string[]): string[] => ['--source', 'hn', '--ids', ids, ...more];
  const IDS = /^--ids must be a range such as 1-20 or a list such as 1,5,9, got /;
  const manyCities = Array.from({ length: 101 }, (_, i) => `City ${i}, TX`).join('; ');
  refuses('scrape', [
    // --source
    ['no flags', [], BAD, /^--source must be yelp or hn$/],
    ['an unknown --source', ['--source', 'google'], BAD, /^--source must be yelp or hn, got "google"$/],
    [
      '--source in capitals',
      ['--source', 'YELP', '--cities', 'Austin, TX'],
      BAD,
      /^--source must be yelp or hn, got "YELP"$/,
    ],
    [
      '--source with a trailing space',
      ['--source', 'yelp ', '--cities', 'Austin, TX'],
      BAD,
      /^--source must be yelp or hn, got "yelp "$/,
    ],
    ['an empty --source', ['--source=', '--ids', '1'], BAD, /^--source must be yelp or hn, got ""$/],
    ['--source at the end', ['--source'], BAD, /^--source needs a value$/],
    ['--source twice', ['--source', 'hn', '--source', 'yelp'], BAD, /^--source is given twice \("hn" and "yelp"\)/],
    ['a positional', ['hn', '--ids', '1'], BAD, /^scrape takes no positional arguments, got "hn"$/],
    // --cities / --city
    [
      'yelp without cities',
      ['--source', 'yelp'],
      BAD,
      /^--source yelp needs --cities, e\.g\. --cities "Austin, TX; Chicago, IL"$/,
    ],
    ['an empty --cities', ['--source', 'yelp', '--cities', ''], BAD, /^--cities must name at least one city, got ""$/],
    [
      '--cities of separators only',
      ['--source', 'yelp', '--cities', ' ;; ; '],
      BAD,
      /^--cities must name at least one city, got " ;; ; "$/,
    ],
    [
      '--cities of commas only',
      ['--source', 'yelp', '--cities', ', , ,'],
      BAD,
      /^--cities must name at least one city, got ", , ,"$/,
    ],
    [
      'a whitespace-only --cities',
      ['--source', 'yelp', '--cities', ' \t '],
      BAD,
      /^--cities must name at least one city, got " \\t "$/,
    ],
    [
      '101 cities',
      ['--source', 'yelp', '--cities', manyCities],
      BAD,
      /^--cities must name at most 100 cities, got "City 0, TX; City 1, TX; .*…"$/,
    ],
    [
      'a 300-character city',
      ['--source', 'yelp', '--cities', 'x'.repeat(300)],
      BAD,
      /^--cities: each city must be at most 256 characters \(item 1\), got "x{60}…"$/,
    ],
    [
      'a 1 MB --cities',
      ['--source', 'yelp', '--cities', `Austin, TX; ${'é'.repeat(1024 * 1024)}`],
      BAD,
      /^--cities: each city must be at most 256 characters \(item 2\), got "Austin, TX; é+…"$/,
    ],
    [
      'an empty --city',
      ['--source', 'yelp', '--city', ''],
      BAD,
      /^--city: each city must be a non-empty name such as "Austin, TX" \(item 1\)$/,
    ],
    [
      'a whitespace-only --city next to --cities',
      ['--source', 'yelp', '--cities', 'Austin, TX', '--city', '  '],
      BAD,
      /^--cities\/--city: each city must be a non-empty name such as "Austin, TX" \(item 2\)$/,
    ],
    [
      '--cities twice',
      ['--source', 'yelp', '--cities', 'Austin, TX', '--cities', 'Chicago, IL'],
      BAD,
      /^--cities is given twice \("Austin, TX" and "Chicago, IL"\); give it once$/,
    ],
    ['--cities at the end', ['--source', 'yelp', '--cities'], BAD, /^--cities needs a value$/],
    // --limit
    ['--limit 0', yelp('--limit', '0'), BAD, /^--limit must be at least 1 \(businesses per city\), got "0"$/],
    ['--limit -1', yelp('--limit', '-1'), BAD, /^--limit must be at least 1 \(businesses per city\), got "-1"$/],
    [
      '--limit 1001',
      yelp('--limit', '1001'),
      BAD,
      /^--limit must be at most 1000 \(Yelp serves at most 1000 results per search\), got "1001"$/,
    ],
    ['--limit 2.5', yelp('--limit', '2.5'), BAD, /^--limit must be a whole number, got "2\.5"$/],
    ['--limit abc', yelp('--limit', 'abc'), BAD, /^--limit must be a whole number, got "abc"$/],
    ['--limit ""', yelp('--limit='), BAD, /^--limit must be a whole number, got ""$/],
    ['--limit 1e309', yelp('--limit', '1e309'), BAD, /^--limit is too large for a number, got "1e309"$/],
    ['--limit at the end', yelp('--limit'), BAD, /^--limit needs a value$/],
    [
      '--limit followed by --json',
      yelp('--limit', '--json'),
      BAD,
      /^--limit needs a value, got the flag "--json" \(for a value that starts with "-", write --limit=VALUE\)$/,
    ],
    ['--ids for yelp', yelp('--ids', '1-2'), BAD, /^--ids is for --source hn; Yelp takes --cities$/],
    // --concurrency (both sources)
    ['--concurrency 0', yelp('--concurrency', '0'), BAD, /^--concurrency must be at least 1, got "0"$/],
    ['--concurrency 65', hn('1-2', '--concurrency', '65'), BAD, /^--concurrency must be at most 64, got "65"$/],
    ['--concurrency 2^53+1', hn('1-2', '--concurrency', '9007199254740993'), BAD, /^--concurrency is above 2\^53/],
    ['--concurrency abc', hn('1-2', '--concurrency', 'abc'), BAD, /^--concurrency must be a whole number, got "abc"$/],
    // --ids
    ['hn without ids', ['--source', 'hn'], BAD, /^--source hn needs --ids, e\.g\. --ids 1-20$/],
    ['--ids 20-1', hn('20-1'), BAD, /^--ids range "20-1" must go from a positive id up to one at least as large$/],
    ['--ids 0-5', hn('0-5'), BAD, /^--ids range "0-5" must go from a positive id up to one at least as large$/],
    ['--ids a-b', hn('a-b'), BAD, IDS],
    ['--ids 1-', hn('1-'), BAD, IDS],
    ['--ids -5', hn('-5'), BAD, IDS],
    ['--ids 1--2', hn('1--2'), BAD, IDS],
    ['--ids 1-2-3', hn('1-2-3'), BAD, IDS],
    ['--ids 1,,2', hn('1,,2'), BAD, IDS],
    ['--ids ","', hn(','), BAD, IDS],
    ['--ids 1.5', hn('1.5'), BAD, IDS],
    ['--ids 1e3', hn('1e3'), BAD, IDS],
    ['--ids one', hn('one'), BAD, IDS],
    [
      '--ids ""',
      ['--source', 'hn', '--ids='],
      BAD,
      /^--ids must be a range such as 1-20 or a list such as 1,5,9, got ""$/,
    ],
    ['--ids 1-10001', hn('1-10001'), BAD, /^--ids range "1-10001" has 10001 ids; at most 10000 per run$/],
    [
      '--ids 1-10^23',
      hn('1-99999999999999999999999'),
      BAD,
      /^--ids range "1-99999999999999999999999" has 1e\+23 ids; at most 10000 per run$/,
    ],
    [
      '--ids with a huge id',
      hn('1,99999999999999999999'),
      BAD,
      /^--ids: 99999999999999999999 is not an item id \(at most 9007199254740991\)$/,
    ],
    ['--ids 0', hn('0,1'), BAD, /^--ids must be positive \(item 1\), got "0,1"$/],
    [
      '10,001 listed ids',
      hn(Array.from({ length: 10_001 }, (_, i) => i + 1).join(',')),
      BAD,
      /^--ids must list at most 10000 ids per run, got "1,2,3,/,
    ],
    [
      '--cities for hn',
      hn('1-2', '--cities', 'Austin, TX'),
      BAD,
      /^--cities\/--city\/--limit are for --source yelp; HN takes --ids 1-20 or --ids 1,5,9$/,
    ],
    ['--limit for hn', hn('1-2', '--limit', '5'), BAD, /^--cities\/--city\/--limit are for --source yelp/],
    // --json, unknown flags
    ['--json with a value', hn('1-2', '--json=1'), BAD, /^--json is a switch and takes no value, got --json="1"$/],
    [
      'an unknown flag',
      hn('1-2', '--frob'),
      BAD,
      /^unknown flag --frob; scrape takes --source, --cities, --city, --limit, --ids, --concurrency, --json$/,
    ],
    ['a unicode flag', hn('1-2', '--ïds', '3'), BAD, /^unknown flag --ïds; scrape takes /],
  ]);

  it('control: cities, ids and what they become', () => {
    expect(
      parseScrapeArgs([
        '--source',
        'yelp',
        '--cities',
        'San Francisco, CA, Austin, TX',
        '--city',
        'Zürich 漢字',
        '--limit',
        '5',
      ]),
    ).toEqual({
      input: { source: 'yelp', cities: ['San Francisco, CA', 'Austin, TX', 'Zürich 漢字'], limit: 5 },
      json: false,
    });
    expect(parseScrapeArgs(['--source', 'hn', '--ids', ' 1 - 3 ', '--concurrency', '8', '--json'])).toEqual({
      input: { source: 'hn', ids: [1, 2, 3], concurrency: 8 },
      json: true,
    });
    expect(parseScrapeArgs(['--source', 'hn', '--ids', '9, 5,1,5'])).toEqual({
      input: { source: 'hn', ids: [9, 5, 1] },
      json: false,
    });
  });
});

describe('demo', () => {
  refuses('demo', [
    ['a positional', ['extra'], BAD, /^demo takes no positional arguments, got "extra"$/],
    ['a positional after --', ['--', 'x'], BAD, /^demo takes no positional arguments, got "x"$/],
    ['--json', ['--json'], BAD, /^unknown flag --json; demo takes --keep$/],
    ['an unknown flag', ['--quick'], BAD, /^unknown flag --quick; demo takes --keep$/],
  ]);

  it('--keep asks to leave the stack running', () => {
    expect(parseDemoArgs(['--keep'])).toEqual({ keep: true });
    expect(parseDemoArgs([])).toEqual({ keep: false });
  });

  it('a refused demo writes no sample data', async () => {
    const demoOutput = path.join(PROJECT_ROOT, '.demo-output');
    const before = existsSync(demoOutput) ? readdirSync(demoOutput) : null;
    await refusal(['demo', 'extra']);
    expect(existsSync(demoOutput) ? readdirSync(demoOutput) : null).toEqual(before);
  });
});

describe('dashboard', () => {
  refuses('dashboard', [
    ['no --stage', [], BAD, /^dashboard needs --stage, the deployed stage to show \(e\.g\. dev\)$/],
    ['a stage with a space', ['--stage', 'a b'], BAD, /^--stage must be a stage name .*, got "a b"$/],
    ['a stage of 17 characters', ['--stage', 'x'.repeat(17)], BAD, /^--stage must be a stage name/],
    ['a made-up region', ['--stage', 'dev', '--region', 'mars'], BAD, /^--region must be an AWS region/],
    ['a bucket in capitals', ['--stage', 'dev', '--bucket', 'My-Bucket'], BAD, /^--bucket must be an S3 bucket name/],
    ['port 0', ['--stage', 'dev', '--port', '0'], BAD, /^--port must be a TCP port/],
    ['a positional', ['--stage', 'dev', 'x'], BAD, /^dashboard takes no positional arguments, got "x"$/],
  ]);

  it('control: a stage, with the defaults (loopback port 4581, read-only)', () => {
    expect(parseDashboardArgs(['--stage', 'dev'])).toEqual({ stage: 'dev', port: 4581, allowRuns: false });
    expect(
      parseDashboardArgs([
        '--stage',
        'prod',
        '--region',
        'eu-west-1',
        '--bucket',
        'acme-cp-data',
        '--port',
        '8080',
        '--allow-runs',
      ]),
    ).toEqual({ stage: 'prod', region: 'eu-west-1', bucket: 'acme-cp-data', port: 8080, allowRuns: true });
  });
});

describe('the binary: exit code 1, the message and the usage on stderr, no stack trace, nothing started', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'cp-bad-cli-state-'));
    const nowhere = `http://127.0.0.1:${await closedPort()}`;
    env = {
      ...process.env,
      CLOUD_PARALLEL_STATE_DIR: stateDir,
      // A command that tried to start the stack would stop at these, with a message naming them.
      ...Object.fromEntries(PORT_VARIABLES.map((variable) => [variable, 'not-a-port'])),
      ...Object.fromEntries(['S3', 'LAMBDA', 'EC2'].map((service) => [`AWS_ENDPOINT_URL_${service}`, nowhere])),
      MONGODB_URI: `mongodb://127.0.0.1:${new URL(nowhere).port}`,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    // The first run loads tsx's transform cache; the timed runs below are what a person sees.
    await run(process.execPath, [CLI, 'help'], { env });
  });

  afterAll(() => {
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(process.execPath, [CLI, ...args], { env }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        stdout: error.stdout,
        stderr: error.stderr,
      }),
    );
  }

  it.each<[string, string[], RegExp, RegExp]>([
    [
      'an unknown command',
      ['frob'],
      /^cloud-parallel: unknown command "frob"; the commands are /,
      /^Usage: cloud-parallel <command>$/m,
    ],
    [
      'an unknown flag',
      ['primes', '--start', '0', '--end', '10', '--frob'],
      /^cloud-parallel: unknown flag --frob; primes takes /,
      /^ {2}cloud-parallel primes --start S --end E/m,
    ],
    [
      'a missing value',
      ['scrape', '--source', 'yelp', '--cities', 'Austin, TX', '--limit'],
      /^cloud-parallel: --limit needs a value$/m,
      /^ {2}cloud-parallel scrape --source yelp/m,
    ],
    [
      '2^53 + 1',
      ['primes', '--start', '0', '--end', '9007199254740993'],
      /^cloud-parallel: --end is above 2\^53 \(9007199254740992\), beyond which whole numbers are not exact/,
      /^ {2}cloud-parallel primes /m,
    ],
    [
      'a flag given twice',
      ['primes', '--start', '1', '--start', '2', '--end', '10', '--backend', 'local'],
      /^cloud-parallel: --start is given twice/,
      /cloud-parallel primes /,
    ],
    [
      'a directory for rates',
      ['rates', os.tmpdir()],
      /^cloud-parallel: .* is a directory; rates needs a CSV file$/m,
      /^ {2}cloud-parallel rates <file\.csv>/m,
    ],
    [
      'a malformed --ids range',
      ['scrape', '--source', 'hn', '--ids', '20-1'],
      /^cloud-parallel: --ids range "20-1" must go from a positive id/,
      /cloud-parallel scrape --source hn/,
    ],
    [
      'a bad port',
      ['local', 'start', '--s3-port', '0'],
      /^cloud-parallel: --s3-port must be a TCP port \(1-65535\), got "0"$/m,
      /^ {2}cloud-parallel local start/m,
    ],
    [
      'an argument for demo',
      ['demo', 'now'],
      /^cloud-parallel: demo takes no positional arguments, got "now"$/m,
      /^ {2}cloud-parallel demo/m,
    ],
  ])('%s', async (_label, args, message, usage) => {
    const { code, stdout, stderr } = await cli(args);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(usage);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderr).not.toMatch(/CLOUD_PARALLEL_\w+_PORT|unexpected error|•/); // never got as far as the stack, or a progress line
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it('with --json the error is JSON on stdout, stderr stays empty, exit code 1', async () => {
    const { code, stdout, stderr } = await cli(['rates', path.join(os.tmpdir(), 'no-such-dir-cp', 'x.csv'), '--json']);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    const reply = JSON.parse(stdout) as unknown;
    expect(reply).toEqual({
      error: { code: 'FILE_NOT_FOUND', message: expect.stringMatching(/^no such file: .*x\.csv$/) },
    });
    expectNoStackTrace(reply);
    const bins = await cli(['rates', CLI, '--bins', '0', '--json']);
    expect({ code: bins.code, stderr: bins.stderr }).toEqual({ code: 1, stderr: '' });
    expect(JSON.parse(bins.stdout)).toEqual({
      error: { code: 'INVALID_ARGUMENT', message: '--bins must be at least 1, got "0"' },
    });
  });

  it('no command: the usage on stderr, exit code 1; help: the usage on stdout, exit code 0', async () => {
    const none = await cli([]);
    expect(none).toMatchObject({ code: 1, stdout: '' });
    expect(none.stderr).toBe(USAGE);
    const help = await cli(['primes', '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage:\n {2}cloud-parallel primes --start S --end E/);
  });

  it('a bad flag is refused before anything starts: exit code 1, the flag named, no stack state written', async () => {
    // How fast it is refused is a benchmark's business (npm run bench -- cli); that the refusal loads no command
    // module is test/cli/lazy-loading.test.ts's.
    const { code, stderr } = await cli(['primes', '--start', '0', '--end', '1e9', '--chunks', '0']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^cloud-parallel: --chunks must be at least 1, got "0"\n/);
    expect(readdirSync(stateDir)).toEqual([]);
  });
});
