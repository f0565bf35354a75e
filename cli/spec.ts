/**
 * What each command of `cloud-parallel` takes, as data: its usage lines, its flags (commander's flag syntax, with
 * the description `--help` shows), examples and the environment variables it reads. cli/parser.ts turns a spec
 * into a commander command, cli/help.ts into the usage text. Imports nothing, so `--help` loads nothing heavy.
 */

/** One flag: `'--bins <N>'` takes a value, `'--json'` is a switch; `multiple` values may be repeated (`--city`). */
export interface FlagSpec {
  flags: string;
  description: string;
  multiple?: boolean;
}

export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  name: CommandName;
  /** Usage lines (after `cloud-parallel `), each group with what it does. */
  usage: { lines: string[]; does: string }[];
  /** Keyed by the flag's long name without dashes (`chunk-size`): the name cli/args/ reads its value by. */
  flags: F;
  examples: [command: string, what: string][];
  environment?: [variable: string, what: string][];
}

/** The commands, in the order the usage lists them. */
export const COMMANDS = ['local', 'rates', 'primes', 'scrape', 'dashboard', 'demo', 'bench'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Read by every command that may start the local stack (local-stack/stack.ts); an empty value means the default. */
const STACK_ENVIRONMENT: [string, string][] = [
  ['CLOUD_PARALLEL_S3_PORT', 'the local S3 port (default 4569)'],
  ['CLOUD_PARALLEL_LAMBDA_PORT', 'the local Lambda invoke API port (default 3002)'],
  ['CLOUD_PARALLEL_EC2_PORT', 'the local EC2 port (default 4570)'],
  ['CLOUD_PARALLEL_MONGO_PORT', 'the local MongoDB port (default 27017)'],
  ['CLOUD_PARALLEL_API_PORT', 'the local Yelp/HN API fixture port (default 4575)'],
  ['CLOUD_PARALLEL_DASHBOARD_PORT', 'the local web dashboard port (default 4580)'],
  ['CLOUD_PARALLEL_STATE_DIR', 'where the stack keeps its state, credentials and logs (default .local-stack/)'],
];
export const STACK_NOTE =
  'A command that needs the local stack starts it if it is not running, and stops it again afterwards.';

const JSON_FLAG = {
  flags: '--json',
  description: 'print the result (or the error) as one JSON document on stdout; progress stays off',
};
const port = (service: string, label: string, fallback: number): FlagSpec & { flags: `--${string} <N>` } => ({
  flags: `--${service}-port <N>`,
  description: `the ${label} port, 1-65535 (default CLOUD_PARALLEL_${service.toUpperCase()}_PORT, else ${fallback})`,
});

export const LOCAL = {
  name: 'local',
  usage: [
    {
      lines: [
        'local start [--s3-port N] [--lambda-port N] [--ec2-port N] [--mongo-port N] [--api-port N] [--dashboard-port N]',
      ],
      does: 'start the local stack (S3, Lambda, EC2, MongoDB, API fixture, web dashboard)',
    },
    { lines: ['local stop'], does: "stop what 'local start' started" },
    { lines: ['local status'], does: 'show endpoints of the running stack' },
    { lines: ['local env'], does: "print 'export' lines pointing the AWS SDK/CLI at it" },
  ],
  flags: {
    's3-port': port('s3', 'S3', 4569),
    'lambda-port': port('lambda', 'Lambda invoke API', 3002),
    'ec2-port': port('ec2', 'EC2', 4570),
    'mongo-port': port('mongo', 'MongoDB', 27017),
    'api-port': port('api', 'API fixture', 4575),
    'dashboard-port': port('dashboard', 'web dashboard', 4580),
  },
  examples: [
    ['cloud-parallel local start', 'start everything in the background (the port flags apply to start only)'],
    ['eval "$(cloud-parallel local env)"', 'point the AWS CLI, the SDK and `sls invoke local` at the stack'],
    ['cloud-parallel local stop', 'stop it'],
  ],
  environment: STACK_ENVIRONMENT,
} as const satisfies CommandSpec;

export const RATES = {
  name: 'rates',
  usage: [
    {
      lines: [
        'rates <file.csv> [--bins N] [--numerator C] [--denominator C] [--backend lambda|ec2] [--workers N | --chunk-size SIZE] [--out DIR] [--timeout S] [--json]',
      ],
      does: 'upload a CSV, let the S3 trigger run the job (split across workers, or on one EC2 instance), print the summary',
    },
  ],
  flags: {
    bins: {
      flags: '--bins <N>',
      description: "histogram bins, 1-1000 (default: the function's RATES_BINS, serverless.yml param ratesBins)",
    },
    numerator: {
      flags: '--numerator <C>',
      description:
        'the numerator column (default: RATES_NUMERATOR, param ratesNumerator); printable ASCII on the lambda backend',
    },
    denominator: {
      flags: '--denominator <C>',
      description: 'the denominator column (default: RATES_DENOMINATOR, param ratesDenominator)',
    },
    out: {
      flags: '--out <DIR>',
      description:
        "also download rates.csv, histogram.png/.svg and summary.json into DIR (made if missing), and a split run's timeline.png/.svg/.json",
    },
    timeout: {
      flags: '--timeout <S>',
      description: 'seconds to wait for the run, more than 0 and at most 86400 (default 300)',
    },
    backend: {
      flags: '--backend <lambda|ec2>',
      description:
        'lambda: the S3 upload triggers the rates function (files up to 4 GiB); ec2: one instance runs the job (up to 5 GiB), or with --workers/--chunk-size one instance per chunk (default lambda)',
    },
    workers: {
      flags: '--workers <N>',
      description:
        'split the file into N byte ranges of equal size, each parsed by a worker function, 1-10000; 1 runs it on one ' +
        'worker (default: the deployment splits files above its size threshold); on EC2 one instance per task',
    },
    'chunk-size': {
      flags: '--chunk-size <SIZE>',
      description:
        'or: split it into ranges of SIZE bytes, at least 4KiB: 65536, 64MiB, 1.5GB (KiB MiB GiB TiB are powers of ' +
        '1024, KB MB GB TB of 1000); under 1MiB warns: tiny chunks are for watching boundaries (not with --workers)',
    },
    json: JSON_FLAG,
  },
  examples: [
    ['cloud-parallel rates counties.csv', 'upload, wait for the triggered run, print the summary'],
    ['cloud-parallel rates counties.csv --bins 50 --out out/', '50 bins; also download the results'],
    [
      'cloud-parallel rates deaths.csv --numerator deaths --denominator births --json',
      'other columns, the summary as JSON',
    ],
    ['cloud-parallel rates big.csv --workers 4', 'four byte ranges, parsed by four workers at once'],
    ['cloud-parallel rates big.csv --chunk-size 64MiB', 'one worker task per 64 MiB of the file'],
    ['cloud-parallel rates big.csv --workers 1', 'one worker, whatever the size (the path before splitting)'],
    ['cloud-parallel rates big.csv --backend ec2', 'the job on one (local) EC2 instance'],
  ],
  environment: STACK_ENVIRONMENT,
} as const satisfies CommandSpec;

export const PRIMES = {
  name: 'primes',
  usage: [
    {
      lines: [
        'primes --start S --end E [--chunks N | --chunk-size N] [--backend lambda|ec2|local] [--chunks-per-instance N] [--concurrency N] [--out DIR] [--json]',
      ],
      does: 'count the primes in [S, E) in parallel chunks (numbers: 1e8, 100000000)',
    },
  ],
  flags: {
    start: {
      flags: '--start <S>',
      description: 'the first number of the range (whole, ≥ 0: 100000000, 1e8, 1_000_000)',
    },
    end: { flags: '--end <E>', description: 'the end of the range, not counted (at most 2^53)' },
    chunks: { flags: '--chunks <N>', description: 'split the range into N chunks, 1-10000 (default 2)' },
    'chunk-size': { flags: '--chunk-size <N>', description: 'or: chunks of N numbers each (not with --chunks)' },
    backend: {
      flags: '--backend <lambda|ec2|local>',
      description:
        'where the chunks run: the worker Lambda, EC2 instances, or worker threads here with no stack (default lambda)',
    },
    concurrency: { flags: '--concurrency <N>', description: 'most chunks in flight at once, 1-1000 (default 64)' },
    'chunks-per-instance': {
      flags: '--chunks-per-instance <N>',
      description: 'chunks each EC2 instance runs, 1-64 (--backend ec2 only)',
    },
    out: {
      flags: '--out <DIR>',
      description:
        "also put the run's timeline.json/.svg/.png and summary.json into DIR (made if missing); with --backend local, the only place they go",
    },
    json: JSON_FLAG,
  },
  examples: [
    ['cloud-parallel primes --start 1e8 --end 1.01e8 --chunks 4', "on the local stack's Lambda: 54,208"],
    ['cloud-parallel primes --start 0 --end 1e9 --chunk-size 1e8 --backend local', 'worker threads, no stack'],
    [
      'cloud-parallel primes --start 0 --end 1e10 --chunks 8 --chunks-per-instance 2 --backend ec2',
      'on 4 local EC2 instances',
    ],
  ],
  environment: STACK_ENVIRONMENT,
} as const satisfies CommandSpec;

export const SCRAPE = {
  name: 'scrape',
  usage: [
    {
      lines: [
        'scrape --source yelp --cities "San Francisco, CA; Austin, TX" [--city NAME]... [--limit 20] [--concurrency N] [--json]',
        'scrape --source hn --ids 1-20 [--concurrency N] [--json]',
      ],
      does: 'fetch concurrently from the (local) APIs, upsert into MongoDB',
    },
  ],
  flags: {
    source: { flags: '--source <yelp|hn>', description: 'Yelp Fusion business search, or Hacker News items' },
    cities: {
      flags: '--cities <list>',
      description:
        'Yelp: cities separated by ";" (or by "," when no ";": "Austin, TX, Chicago, IL" is two), at most 100',
    },
    city: { flags: '--city <name>', description: 'Yelp: one more city; repeat for several', multiple: true },
    limit: { flags: '--limit <N>', description: 'Yelp: businesses per city, 1-1000 (default 20)' },
    ids: { flags: '--ids <ids>', description: 'HN: a range such as 1-20 or a list such as 1,5,9 (at most 10000 ids)' },
    concurrency: { flags: '--concurrency <N>', description: 'requests in flight at once, 1-64 (default 16)' },
    json: JSON_FLAG,
  },
  examples: [
    [
      'cloud-parallel scrape --source yelp --cities "San Francisco, CA; Austin, TX" --limit 20',
      '20 businesses in each of two cities',
    ],
    [
      'cloud-parallel scrape --source yelp --city "New York, NY" --city "Chicago, IL" --json',
      'cities one flag each; the summary as JSON',
    ],
    ['cloud-parallel scrape --source hn --ids 1-20', 'Hacker News items 1 to 20'],
  ],
  environment: STACK_ENVIRONMENT,
} as const satisfies CommandSpec;

export const DASHBOARD = {
  name: 'dashboard',
  usage: [
    {
      lines: ['dashboard --stage <stage> [--region R] [--bucket NAME] [--port 4581] [--allow-runs]'],
      does: 'the web dashboard against a deployed stage (read-only unless --allow-runs)',
    },
  ],
  flags: {
    stage: { flags: '--stage <stage>', description: 'the deployed stage (sls deploy --stage), e.g. dev' },
    region: {
      flags: '--region <region>',
      description: "the stage's region (default AWS_REGION or the profile's, else us-east-1 as serverless.yml)",
    },
    bucket: {
      flags: '--bucket <name>',
      description:
        'the data bucket, when deployed with --param="dataBucket=…" (default cloud-parallel-<stage>-<region>-data)',
    },
    port: { flags: '--port <N>', description: 'the loopback port to serve on, 1-65535 (default 4581)' },
    'allow-runs': {
      flags: '--allow-runs',
      description: 'show the forms that start runs (uploads, scrapes); without it every POST is refused',
    },
  },
  examples: [
    ['cloud-parallel dashboard --stage dev', 'look at what the dev stage stored; open the printed URL'],
    ['cloud-parallel dashboard --stage prod --region eu-west-1 --allow-runs', 'and start runs from it'],
  ],
  environment: [
    ['AWS_PROFILE, AWS_ACCESS_KEY_ID, …', "the SDK's usual credential chain"],
    ['MONGODB_URI', 'the scraper database; default: the SSM SecureString /cloud-parallel/<stage>/mongodb-uri'],
    [
      'MONGODB_DB, SCRAPE_COLLECTION',
      'as the scrape function reads them (default cloud_parallel; businesses, hn_items)',
    ],
  ],
} as const satisfies CommandSpec;

export const DEMO = {
  name: 'demo',
  usage: [{ lines: ['demo [--keep]'], does: 'the whole system on the local stack, end to end' }],
  flags: {
    keep: {
      flags: '--keep',
      description: 'leave the local stack running at the end, to open the dashboard (stop it with `local stop`)',
    },
  },
  examples: [
    ['cloud-parallel demo', 'rates, primes and scrape on sample data; the results go to .demo-output/'],
    ['npm run demo -- --keep', 'the same, then the stack stays up: open the dashboard URL it prints'],
  ],
  environment: STACK_ENVIRONMENT,
} as const satisfies CommandSpec;

/** `bench` parses its own arguments (bench/index.ts): the spec is for the usage text only. */
export const BENCH = {
  name: 'bench',
  usage: [
    { lines: ['bench [rates|rates-core|rates-parallel|primes|chart|cli|scrape]'], does: 'benchmarks (see README)' },
  ],
  flags: {},
  examples: [
    [
      'cloud-parallel bench rates',
      'the rates job on 1M- and 10M-row files, with pandas on the same file as the baseline when it is installed',
    ],
    ['cloud-parallel bench primes --quick', 'the sieve and the fan-out speedup on π(10^9)'],
    [
      'cloud-parallel bench rates-parallel --mb 200',
      'one worker against 2 and 4 on a generated file, worker memory, and the 10 GB model',
    ],
  ],
} as const satisfies CommandSpec;

export const SPECS: Record<CommandName, CommandSpec> = {
  local: LOCAL,
  rates: RATES,
  primes: PRIMES,
  scrape: SCRAPE,
  dashboard: DASHBOARD,
  demo: DEMO,
  bench: BENCH,
};

export const isCommand = (name: string): name is CommandName => (COMMANDS as readonly string[]).includes(name);

/** Whether this command line asked for JSON: a command that takes --json, and --json among its flags (not after `--`). */
export function wantsJson(argv: string[]): boolean {
  const [command, ...rest] = argv;
  if (command === undefined || !isCommand(command) || !('json' in SPECS[command].flags)) return false;
  const end = rest.indexOf('--');
  return (end === -1 ? rest : rest.slice(0, end)).includes('--json');
}
