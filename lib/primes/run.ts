import type { EC2Client } from '@aws-sdk/client-ec2';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import type { Ec2Config } from '../config.ts';
import { withBackend, type BackendRun, type BackendSpec, type Ec2RunFacts } from '../fanout/backends.ts';
import type { LambdaPricing } from '../fanout/cost.ts';
import { ec2RunSettings, newRunId, type Ec2RunHooks } from '../fanout/ec2/run.ts';
import type { Backend, FanoutOptions, FanoutTrace, ProgressEvent } from '../fanout/index.ts';
import { splitRange } from './chunks.ts';
import { runPrimesFanout, type PrimesRunResult } from './fanout-job.ts';
import type { PrimesRunInput } from './run-input.ts';
import { type PrimesProgressStore, trackPrimesProgress } from './run-progress.ts';
import { buildPrimesRunFiles, type RunRecorder, type SavedRun } from './run-record.ts';
import type { PrimesChunkResult, PrimesTask } from './worker.ts';

/**
 * The primes run on whichever backend the input names, for the fan-out Lambda, the CLI and the bench: the
 * caller says where each backend it offers runs ({@link PrimesTargets}), this picks the one `input.backend`
 * names, builds it (lib/fanout/backends.ts) and fans the chunks out on it.
 */

export interface PrimesEc2Clients {
  ec2: EC2Client;
  s3: S3Client;
  /** Needed when the config names no AMI (the Amazon Linux 2023 lookup). */
  ssm?: SSMClient;
}

export interface PrimesTargets {
  lambda?: { client: LambdaClient; functionName: string };
  ec2?: { clients: PrimesEc2Clients; config: Ec2Config };
  /** Worker threads on this machine (the CLI and tests). */
  local?: { threads?: number };
}

export interface PrimesRunOptions extends Pick<FanoutOptions, 'onProgress' | 'signal' | 'retries'>, Ec2RunHooks {
  /** For the Lambda cost estimate; default lib/fanout/cost.ts DEFAULT_LAMBDA_PRICING. */
  pricing?: LambdaPricing;
  /** Wraps the backend before the fan-out uses it (the CLI's line per finished chunk). */
  decorate?: (backend: Backend<PrimesTask, PrimesChunkResult>) => Backend<PrimesTask, PrimesChunkResult>;
  /** Saves the run's timeline and summary (./run-record.ts); without it nothing is saved. */
  record?: RunRecorder;
  /** Keeps the run's progress.json up to date while it runs (./run-progress.ts); without it none is written. */
  progress?: PrimesProgressStore;
}

export interface PrimesEc2Result extends PrimesRunResult {
  ec2: Ec2RunFacts;
}

/**
 * A run's result: its id (the EC2 run's too), where its timeline and summary were saved — or why they could not be:
 * the count is worth having without its chart —, and on EC2 its instances and a clean-up that failed.
 */
export type PrimesResult = PrimesRunResult & {
  runId: string;
  timeline?: SavedRun;
  timelineError?: string;
  ec2?: Ec2RunFacts;
};

/** What an instance's worker must hand back for a chunk; anything else fails the chunk as `InvalidResult`. */
const chunkResultSchema = z.looseObject({
  start: z.number(),
  end: z.number(),
  count: z.number().int().min(0),
  ms: z.number().min(0),
});

function missing(name: string): Error {
  return new Error(`runPrimes: backend "${name}" was asked for, but the caller gave no ${name} target`);
}

/** The backend `input.backend` names, built from the caller's targets. */
export function primesBackendSpec(
  input: PrimesRunInput,
  targets: PrimesTargets,
  hooks: Ec2RunHooks = {},
): BackendSpec<PrimesChunkResult> {
  switch (input.backend) {
    case 'lambda':
      if (!targets.lambda) throw missing('lambda');
      return { name: 'lambda', ...targets.lambda };
    case 'local':
      return {
        name: 'local',
        module: new URL('./worker.ts', import.meta.url),
        exportName: 'runPrimesTask',
        ...targets.local,
      };
    case 'ec2':
      if (!targets.ec2) throw missing('ec2');
      return {
        name: 'ec2',
        worker: 'primes',
        ...targets.ec2.clients,
        ...ec2RunSettings(targets.ec2.config, hooks),
        tasksPerInstance: input.chunksPerInstance ?? 1,
        parse: (value) => chunkResultSchema.parse(value) as PrimesChunkResult,
      };
  }
}

/** Counts the primes of `input` on its backend; on EC2 every instance is terminated before this returns. */
export async function runPrimes(
  input: PrimesRunInput,
  targets: PrimesTargets,
  options: PrimesRunOptions = {},
): Promise<PrimesResult> {
  const { onProgress, signal, retries, pricing, decorate, record, progress, ...rest } = options;
  // The caller's choice (the input's, so a deployed fan-out can be told), else sortable (ISO time first) and unique;
  // the EC2 run's scratch prefix uses the same id.
  const runId = input.runId ?? rest.runId ?? newRunId();
  const hooks = { ...rest, runId };
  // Before the first progress write: a run refused here has no progress to finish.
  const spec = primesBackendSpec(input, targets, hooks);
  const tracker =
    progress === undefined
      ? undefined
      : trackPrimesProgress(progress(runId), {
          runId,
          start: input.start,
          end: input.end,
          backend: input.backend,
          chunks: splitRange(input.start, input.end, input),
        });
  let run = input;
  if (input.backend === 'ec2' && targets.ec2) {
    // Instances alive at once stay within maxInstances: each holds up to chunksPerInstance chunks in flight.
    const most = targets.ec2.config.maxInstances * (input.chunksPerInstance ?? 1);
    run = { ...input, concurrency: Math.min(input.concurrency ?? most, most) };
  }
  let trace: FanoutTrace | undefined;
  const fanoutOptions = {
    onTrace: (t: FanoutTrace) => {
      trace = t;
    },
    ...(onProgress === undefined && tracker === undefined
      ? {}
      : {
          onProgress: (event: ProgressEvent) => {
            tracker?.onProgress(event);
            onProgress?.(event);
          },
        }),
    ...(signal === undefined ? {} : { signal }),
    ...(retries === undefined ? {} : { retries }),
    ...(pricing === undefined ? {} : { pricing }),
  };
  const wrap = (backend: Backend<PrimesTask, PrimesChunkResult>) => {
    const decorated = decorate ? decorate(backend) : backend;
    return tracker ? tracker.decorate(decorated) : decorated;
  };
  let outcome: BackendRun<PrimesRunResult>;
  try {
    outcome = await withBackend<PrimesTask, PrimesChunkResult, PrimesRunResult>(spec, (backend) =>
      runPrimesFanout(run, wrap(backend), fanoutOptions),
    );
  } catch (error) {
    await tracker?.finish((error as Error)?.message ?? String(error));
    throw error;
  }
  // Before the timeline is drawn and summary.json written: the chunks are over, which is what a poller waits for.
  await tracker?.finish();
  const { value, ec2 } = outcome;
  const result: PrimesResult = { ...value, runId, ...(ec2 === undefined ? {} : { ec2 }) };
  return record && trace ? { ...result, ...(await recordRun(record, runId, value, trace)) } : result;
}

/** The run's files, saved; a failure is reported in the result (and as a warning), not thrown. */
async function recordRun(
  record: RunRecorder,
  runId: string,
  result: PrimesRunResult,
  trace: FanoutTrace,
): Promise<{ timeline: SavedRun } | { timelineError: string }> {
  try {
    return { timeline: await record(runId, await buildPrimesRunFiles(runId, result, trace)) };
  } catch (error) {
    const message = `the timeline of run ${runId} was not saved: ${(error as Error)?.message ?? String(error)}`;
    process.emitWarning(message);
    return { timelineError: message };
  }
}
