/**
 * Where `cloud-parallel rates` spends its time before the job runs, in a fresh process of its own:
 * `node --import tsx bench/cli-probe.ts <file>`, or compiled as the CLI is while users run the compiled CLI (run by
 * bench/cli.ts with the benchmark stack's environment, as bench/cli-probe-build.ts prepares it).
 * It loads the modules the CLI loads for `rates`, in the CLI's order, reads the stack's state and uploads the file
 * with the CLI's upload code, timing each step; prints one JSON line of { step: ms }.
 *
 * The upload goes to a key outside uploads/, so it triggers no run: the probe times the client, not the job.
 */
import { createReadStream } from 'node:fs';

// Milliseconds since the process started: node's own start and loading this file (through tsx's loader and compiling
// it, when it runs from its source; import.meta.url names the source either way, see scripts/cli-build-options.ts).
const bootMs = performance.now();
const fromSource = process.argv[1]?.endsWith('.ts') === true;
const steps: Record<string, number> = { [fromSource ? 'node + tsx start' : 'node start']: bootMs };
let last = bootMs;
const step = (name: string) => {
  const now = performance.now();
  steps[name] = now - last;
  last = now;
};

const file = process.argv[2];
if (file === undefined) throw new Error('usage: cli-probe.ts <file.csv>');

// cli/main.ts's own imports, then what runCli loads for a command that runs (cli/commands.ts judging()).
await Promise.all([
  import('../lib/errors.ts'),
  import('../cli/commands.ts'),
  import('../cli/interrupt.ts'),
  import('../cli/cli-error.ts'),
  import('../cli/spec.ts'),
]);
step('CLI entry (main, commands, spec)');
await import('../cli/parser.ts');
step('flag parser (commander)');
await import('../cli/args/rates.ts');
step('argument checks (cli/args/rates.ts, zod)');
await import('../cli/rates.ts');
step('rates command module (cli/rates.ts and its imports)');
const { readStackState, stackEnvironment } = await import('../local-stack/stack.ts');
const state = readStackState();
if (state === null) throw new Error('the benchmark stack is not running');
step('stack state (state.json, credentials, pids)');
Object.assign(process.env, stackEnvironment(state));
const { createS3Client } = await import('../lib/aws/s3.ts');
const s3 = createS3Client();
step('S3 client (lib/aws/s3.ts, as withStack loads it)');
const { uploadStoppably } = await import('../lib/aws/upload.ts');
const bucket = state.service.environment.DATA_BUCKET ?? state.service.buckets[0];
await uploadStoppably(
  s3,
  { Bucket: bucket, Key: 'bench-cli-probe/small.csv', Body: createReadStream(file), ContentType: 'text/csv' },
  new AbortController().signal,
);
step('upload (first request: connection, signing)');
process.stdout.write(`${JSON.stringify(steps)}\n`);
s3.destroy();
