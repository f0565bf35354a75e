import type { EC2Client } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import type { Ec2Config } from '../config.ts';
import type { FanoutOptions } from '../fanout/index.ts';
import { ec2RunSettings, withEc2Run, type Ec2RunHooks } from '../fanout/ec2/run.ts';
import { runPrimesFanout, type PrimesRunInput, type PrimesRunResult } from './fanout-job.ts';
import type { PrimesChunkResult, PrimesTask } from './worker.ts';

/** What an instance's worker must hand back for a chunk; anything else fails the chunk as `InvalidResult`. */
const chunkResultSchema = z.looseObject({
  start: z.number(),
  end: z.number(),
  count: z.number().int().min(0),
  ms: z.number().min(0),
});

export interface PrimesEc2Clients {
  ec2: EC2Client;
  s3: S3Client;
  /** Needed when the config names no AMI (the Amazon Linux 2023 lookup). */
  ssm?: SSMClient;
}

export interface PrimesEc2Result extends PrimesRunResult {
  ec2: { runId: string; instanceType: string; instances: number; cleanupError?: string };
}

/**
 * The prime count with one EC2 instance per chunk: the same chunks, counts, timings and speedup as on Lambda, with
 * the instances' cost. Every instance is terminated before this returns, whatever happened.
 */
export async function runPrimesOnEc2(
  input: PrimesRunInput,
  clients: PrimesEc2Clients,
  config: Ec2Config,
  options: Pick<FanoutOptions, 'onProgress' | 'signal' | 'retries'> & Ec2RunHooks = {},
): Promise<PrimesEc2Result> {
  const perInstance = input.chunksPerInstance ?? 1;
  // Instances alive at once stay within maxInstances: each holds up to perInstance chunks in flight.
  const concurrency = Math.min(input.concurrency ?? config.maxInstances * perInstance, config.maxInstances * perInstance);
  const report = await withEc2Run<PrimesTask, PrimesChunkResult, PrimesRunResult>(
    {
      worker: 'primes',
      ...clients,
      ...ec2RunSettings(config, options),
      tasksPerInstance: perInstance,
      parse: (value) => chunkResultSchema.parse(value) as PrimesChunkResult,
    },
    (backend) =>
      runPrimesFanout({ ...input, backend: 'ec2', concurrency }, backend, {
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.retries === undefined ? {} : { retries: options.retries }),
      }),
  );
  const { cost } = report;
  return {
    ...report.value,
    cost: {
      backend: 'ec2',
      instanceType: report.instanceType,
      instances: report.instances,
      instanceSeconds: Math.round(cost.instanceSeconds * 10) / 10,
      billedSeconds: Math.round(cost.billedSeconds * 10) / 10,
      usdPerHour: cost.usdPerHour,
      usd: cost.usd,
    },
    ec2: {
      runId: report.runId,
      instanceType: report.instanceType,
      instances: report.instances,
      ...(report.cleanupError === undefined ? {} : { cleanupError: report.cleanupError }),
    },
  };
}
