import { createEc2Client } from '../lib/aws/ec2.ts';
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { loadEc2Config } from '../lib/config.ts';
import { ensureWorkerBundles } from '../lib/fanout/ec2/worker-bundle.ts';
import type { Backend } from '../lib/fanout/index.ts';
import { splitRange } from '../lib/primes/chunks.ts';
import type { PrimesRunInput } from '../lib/primes/run-input.ts';
import { directoryRunRecorder, type RunRecorder, s3RunRecorder } from '../lib/primes/run-record.ts';
import { type PrimesResult, runPrimes as runPrimesOn } from '../lib/primes/run.ts';
import type { PrimesChunkResult, PrimesTask } from '../lib/primes/worker.ts';
import { localEc2Environment, type StackState } from '../local-stack/stack.ts';
import { formatTable } from './format.ts';
import type { PrimesRequest } from './args/primes.ts';
import { awaitCleanly, interruptSignal } from './interrupt.ts';
import { CliError } from './cli-error.ts';
import { downloadObjects } from './download.ts';
import { dataBucket, progress, withStack } from './shared.ts';

function reportingBackend(
  inner: Backend<PrimesTask, PrimesChunkResult>,
  total: number,
  say: (line: string) => void,
): Backend<PrimesTask, PrimesChunkResult> {
  let done = 0;
  return {
    name: inner.name,
    run: async (task, context) => {
      const result = await inner.run(task, context);
      done += 1;
      say(
        `chunk ${context.index + 1}/${total} [${task.start.toLocaleString('en-US')}, ${task.end.toLocaleString('en-US')}): ${result.count.toLocaleString('en-US')} primes in ${result.ms} ms  (${done}/${total} done)`,
      );
      return result;
    },
    ...(inner.close ? { close: () => inner.close!() } : {}),
    ...(inner.usage ? { usage: () => inner.usage!() } : {}),
  };
}

const range = (input: { start: number; end: number }) =>
  `[${input.start.toLocaleString('en-US')}, ${input.end.toLocaleString('en-US')})`;

/**
 * A primes run from the CLI, which coordinates it itself. Its timeline and summary go where the fan-out Lambda puts
 * them, the stack's results/primes/<runId>/, and with --out also into that folder; --backend local has no stack (no
 * S3), so --out is the only place they go.
 */
export async function runPrimes(
  input: PrimesRunInput,
  state: StackState | null,
  quiet: boolean,
  outDir?: string,
): Promise<PrimesResult> {
  const say = quiet ? () => undefined : progress;
  const total = splitRange(input.start, input.end, input).length;
  const s3 = state ? createS3Client() : undefined;
  const bucket = state ? dataBucket(state) : undefined;
  let record: RunRecorder | undefined;
  if (s3 && bucket) record = s3RunRecorder(s3, bucket);
  else if (outDir !== undefined) record = directoryRunRecorder(outDir);
  const result = await runOnBackend(input, state, total, say, record);
  if (s3 && bucket && outDir !== undefined && result.timeline) {
    await downloadObjects(s3, bucket, Object.values(result.timeline.files), outDir);
    say(`downloaded ${Object.keys(result.timeline.files).join(', ')} to ${outDir}`);
  }
  return result;
}

async function runOnBackend(
  input: PrimesRunInput,
  state: StackState | null,
  total: number,
  say: (line: string) => void,
  record: RunRecorder | undefined,
): Promise<PrimesResult> {
  if (input.backend === 'ec2') {
    if (!state) throw new CliError('the ec2 backend runs against the local stack', 'CONFIG');
    return runPrimesOnLocalEc2(input, state, total, say, record);
  }
  let functionName: string | undefined;
  if (input.backend === 'lambda') {
    functionName = state?.service.functions['primes-worker'];
    if (!functionName) throw new CliError('serverless.yml has no primes-worker function', 'CONFIG');
    say(`counting primes in ${range(input)} in ${total} chunks on Lambda (${functionName})`);
  } else {
    say(`counting primes in ${range(input)} in ${total} chunks on local worker threads`);
  }
  return runPrimesOn(
    input,
    functionName === undefined ? {} : { lambda: { client: createLambdaClient(), functionName } },
    {
      decorate: (backend) => reportingBackend(backend, total, say),
      // Ctrl-C: no chunk starts after it, and the invocations in flight are cancelled (their requests aborted).
      signal: interruptSignal,
      ...(record === undefined ? {} : { record }),
      onProgress: (event) => {
        if (event.kind === 'retrying')
          say(`chunk ${event.index + 1}/${total}: ${event.error?.type} — retrying in ${event.delayMs} ms`);
        if (event.kind === 'failed')
          say(`chunk ${event.index + 1}/${total} failed: ${event.error?.type}: ${event.error?.message}`);
      },
    },
  );
}

/** The EC2 backend against the local stack's EC2 endpoint: one local "instance" (a process) per chunk. */
async function runPrimesOnLocalEc2(
  input: PrimesRunInput,
  state: StackState,
  total: number,
  say: (line: string) => void,
  record: RunRecorder | undefined,
): Promise<PrimesResult> {
  await ensureWorkerBundles({ onBuild: () => say('building the EC2 worker bundle') });
  const config = loadEc2Config({
    ...state.service.environment,
    ...localEc2Environment(state),
    DATA_BUCKET: dataBucket(state),
  });
  say(
    `counting primes in ${range(input)} in ${total} chunks on EC2 (${state.ec2Endpoint}, ${input.chunksPerInstance && input.chunksPerInstance > 1 ? `${input.chunksPerInstance} chunks per instance` : 'one instance per chunk'}, at most ${config.maxInstances} at once)`,
  );
  const chunks = splitRange(input.start, input.end, input);
  let last = '';
  const run = runPrimesOn(
    input,
    { ec2: { clients: { ec2: createEc2Client(), s3: createS3Client() }, config } },
    {
      // Ctrl-C: no instance is launched after it, and withEc2Run terminates every instance of the run.
      signal: interruptSignal,
      ...(record === undefined ? {} : { record }),
      onInstances: ({ pending, running, done, total: launched }) => {
        const line = `instances: ${pending} pending, ${running} running, ${done} done (${launched} launched)`;
        if (line !== last) {
          last = line;
          say(line);
        }
      },
      onProgress: (event) => {
        const chunk = chunks[event.index]!;
        if (event.kind === 'succeeded')
          say(`chunk ${event.index + 1}/${total} ${range(chunk)} done  (${event.done}/${total})`);
        if (event.kind === 'retrying')
          say(`chunk ${event.index + 1}/${total}: ${event.error?.type} — retrying in ${event.delayMs} ms`);
        if (event.kind === 'failed')
          say(`chunk ${event.index + 1}/${total} failed: ${event.error?.type}: ${event.error?.message}`);
      },
    },
  );
  return awaitCleanly('terminating the EC2 instances this command launched', run);
}

/** Where the run's timeline went, in a line: the PNG to open, and what lies beside it. */
function timelineLine(result: PrimesResult): string {
  if (result.timelineError) return `timeline NOT saved: ${result.timelineError}`;
  if (!result.timeline) return 'timeline: not saved (--backend local has no S3 to put it in; add --out DIR to keep it)';
  const { location, files } = result.timeline;
  const png = location.startsWith('s3://') ? `${location}timeline.png` : files['timeline.png'];
  return `timeline: ${png}  (timeline.json, timeline.svg and summary.json beside it)`;
}

export function formatPrimesResult(result: PrimesResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const rows = result.chunks.map((c) => [
    `[${n(c.start)}, ${n(c.end)})`,
    c.count === undefined ? 'FAILED' : n(c.count),
    c.ms === undefined ? `${c.error?.type}: ${c.error?.message}` : `${c.ms} ms`,
  ]);
  const lines = [
    formatTable(['chunk', 'primes', 'time'], rows).trimEnd(),
    '',
    `primes in [${n(result.start)}, ${n(result.end)}): ${n(result.count)}${result.complete ? '' : `  (INCOMPLETE: ${result.failedChunks.length} chunk(s) failed)`}`,
    `wall ${result.wallMs} ms, worker time ${result.workerMs} ms, speedup ${result.speedup}× (${result.backend} backend)`,
    `run ${result.runId}`,
    timelineLine(result),
  ];
  const { cost } = result;
  if (cost?.backend === 'lambda') {
    lines.push(`Lambda cost estimate: ${cost.requests} requests, ${cost.gbSeconds} GB-s ≈ $${cost.usd.toFixed(6)}`);
  } else if (cost?.backend === 'ec2') {
    lines.push(
      `EC2 cost estimate: ${cost.instances} × ${cost.instanceType}, ${cost.instanceSeconds} instance-s (billed ${cost.billedSeconds} s: 60 s minimum each) ` +
        `at $${cost.usdPerHour}/h ≈ $${cost.usd.toFixed(6)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function primesCommand({ input, json, outDir }: PrimesRequest): Promise<number> {
  const result =
    input.backend === 'local'
      ? await runPrimes(input, null, json, outDir)
      : await withStack((state) => runPrimes(input, state, json, outDir), json);
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatPrimesResult(result));
  return result.complete ? 0 : 1;
}
