/**
 * `rates --backend ec2`: the job on local EC2 instances, coordinated from this process. Loaded only for that backend
 * (cli/rates.ts imports it when asked), since it brings the EC2 client, esbuild for the worker bundles and the job
 * itself (its commit runs here).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createEc2Client } from '../lib/aws/ec2.ts';
import { type Ec2Config, loadEc2Config, loadRatesConfig } from '../lib/config.ts';
import { ensureWorkerBundles } from '../lib/fanout/ec2/worker-bundle.ts';
import type { RateOptions } from '../lib/rates/options.ts';
import { runRatesOnEc2, runSplitRatesOnEc2, stageRatesInput } from '../lib/rates/ec2.ts';
import type { RatesJobOutcome } from '../lib/rates/outcome.ts';
import type { RatesSplit } from '../lib/rates/split.ts';
import { localEc2Environment, type StackState } from '../local-stack/stack.ts';
import { downloadRatesOutputs } from './download.ts';
import { awaitCleanly, interruptSignal } from './interrupt.ts';
import { changedLinesOnly, plural, splitNote } from './rates-lines.ts';
import { dataBucket, progress } from './shared.ts';

/** The same job on one local EC2 instance: staged under inputs/, computed by the instance, published here. */
export async function runOnEc2AndCollect(
  state: StackState,
  s3: S3Client,
  file: string,
  options: Partial<RateOptions>,
  settings: { outDir?: string | undefined; timeoutMs: number; quiet: boolean },
): Promise<RatesJobOutcome> {
  const say = settings.quiet ? () => undefined : progress;
  const bucket = dataBucket(state);
  await ensureWorkerBundles({ onBuild: () => say('building the EC2 worker bundle') });
  const staged = await awaitCleanly(
    `aborting the upload of ${file}`,
    stageRatesInput(s3, { bucket, file }, interruptSignal),
  );
  say(`uploaded ${file} to s3://${bucket}/${staged.key}; running it on one EC2 instance (${state.ec2Endpoint})`);
  const { defaults } = loadRatesConfig({ ...state.service.environment, DATA_BUCKET: bucket });
  const config = localEc2Config(state, bucket, settings.timeoutMs);
  let last = '';
  const report = await awaitCleanly(
    'terminating the EC2 instance this command launched',
    runRatesOnEc2(
      { ec2: createEc2Client(), s3 },
      config,
      { ...staged, options: { ...defaults, ...options } },
      {
        onInstances: ({ pending, running, done }) => {
          const line = `instance: ${pending ? 'pending' : running ? 'running' : done ? 'done' : '?'}`;
          if (line !== last) {
            last = line;
            say(line);
          }
        },
        signal: interruptSignal,
      },
    ),
  );
  say(
    `EC2 run ${report.runId}: ${report.instances} × ${report.instanceType}, ${report.cost.instanceSeconds.toFixed(1)} instance-s ≈ $${report.cost.usd.toFixed(6)}`,
  );
  await downloadRatesOutputs(s3, bucket, staged.resultPrefix, report.outcome, settings.outDir, say);
  return report.outcome;
}

/** The local stack's EC2 settings, with every instance held to the run's --timeout. */
function localEc2Config(state: StackState, bucket: string, timeoutMs: number): Ec2Config {
  return loadEc2Config({
    ...state.service.environment,
    ...localEc2Environment(state),
    DATA_BUCKET: bucket,
    EC2_DEADLINE_SECONDS: String(Math.ceil(timeoutMs / 1000)),
  });
}

/**
 * The job split into chunks on local EC2 instances: staged under inputs/ (the trigger does not fire), coordinated
 * in this process (lib/rates/ec2.ts runSplitRatesOnEc2), published to results/<name>/ as the Lambda path does.
 */
export async function runSplitOnEc2AndCollect(
  state: StackState,
  s3: S3Client,
  file: string,
  options: Partial<RateOptions>,
  settings: { outDir?: string | undefined; timeoutMs: number; quiet: boolean },
  split: RatesSplit,
): Promise<RatesJobOutcome> {
  const say = settings.quiet ? () => undefined : progress;
  const bucket = dataBucket(state);
  await ensureWorkerBundles({ onBuild: () => say('building the EC2 worker bundles') });
  const staged = await awaitCleanly(
    `aborting the upload of ${file}`,
    stageRatesInput(s3, { bucket, file }, interruptSignal),
  );
  say(
    `uploaded ${file} to s3://${bucket}/${staged.key}; running it${splitNote(split)} on EC2 instances (${state.ec2Endpoint})`,
  );
  const rates = loadRatesConfig({ ...state.service.environment, DATA_BUCKET: bucket });
  const config = localEc2Config(state, bucket, settings.timeoutMs);
  const phaseLine = changedLinesOnly(say);
  const instancesLine = changedLinesOnly(say);
  const outcome = await awaitCleanly(
    'terminating the EC2 instances this command launched',
    runSplitRatesOnEc2(
      { ec2: createEc2Client(), s3 },
      config,
      {
        ...staged,
        options: { ...rates.defaults, ...options },
        split,
        chunking: { aboveBytes: rates.parallel.aboveBytes, chunkBytes: rates.parallel.chunkBytes },
      },
      {
        onProgress: ({ phase, chunks, done }) => phaseLine(`${phase}: ${done}/${plural(chunks, 'chunk')}`),
        onInstances: ({ pending, running, done }) =>
          instancesLine(`instances: ${pending} pending, ${running} running, ${done} done`),
        signal: interruptSignal,
      },
    ),
  );
  await downloadRatesOutputs(s3, bucket, staged.resultPrefix, outcome, settings.outDir, say);
  return outcome;
}
