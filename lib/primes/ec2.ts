import type { Ec2Config } from '../config.ts';
import type { FanoutOptions } from '../fanout/index.ts';
import type { Ec2RunHooks } from '../fanout/ec2/run.ts';
import type { PrimesRunInput } from './run-input.ts';
import { runPrimes, type PrimesEc2Clients, type PrimesEc2Result } from './run.ts';

export type { PrimesEc2Clients, PrimesEc2Result } from './run.ts';

/**
 * The prime count with one EC2 instance per chunk (or `chunksPerInstance`): the same chunks, counts, timings and
 * speedup as on Lambda, with the instances' cost. Every instance is terminated before this returns, whatever happened.
 */
export async function runPrimesOnEc2(
  input: PrimesRunInput,
  clients: PrimesEc2Clients,
  config: Ec2Config,
  options: Pick<FanoutOptions, 'onProgress' | 'signal' | 'retries'> & Ec2RunHooks = {},
): Promise<PrimesEc2Result> {
  const { ec2, ...result } = await runPrimes({ ...input, backend: 'ec2' }, { ec2: { clients, config } }, options);
  if (ec2 === undefined) throw new Error('runPrimesOnEc2: the run did not go through the EC2 backend');
  return { ...result, ec2 };
}
