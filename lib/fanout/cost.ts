/**
 * What a fan-out's workers cost, computed here for every backend: {@link fanoutCost} takes the backend's name,
 * what the tasks reported and what the backend itself metered (instances and their lifetimes, see
 * `Backend.usage`), and gives the estimate a run reports. Lambda is billed per request and GB-second, EC2 per
 * instance-second with a 60-second minimum, local threads cost nothing.
 */

/** Lambda prices (us-east-1, x86, 2026); override per region or architecture through the environment. */
export interface LambdaPricing {
  usdPerGbSecond: number;
  usdPerMillionRequests: number;
  workerMemoryMb: number;
}

export const DEFAULT_LAMBDA_PRICING: LambdaPricing = {
  usdPerGbSecond: 0.0000166667,
  usdPerMillionRequests: 0.2,
  workerMemoryMb: 1769,
};

/** On-demand Linux price of c7i.large in us-east-1, USD per instance-hour (AWS EC2 on-demand pricing page, 2025). */
export const DEFAULT_USD_PER_HOUR = 0.08925;

export type LambdaCost = {
  backend: 'lambda';
  requests: number;
  gbSeconds: number;
  usd: number;
  pricing: LambdaPricing;
};
export type Ec2Cost = {
  backend: 'ec2';
  instanceType: string;
  instances: number;
  instanceSeconds: number;
  billedSeconds: number;
  usdPerHour: number;
  usd: number;
};
export type FanoutCost = LambdaCost | Ec2Cost;

/** What a backend that runs on instances metered: their type, price, and how long each one lived. */
export interface InstanceUsage {
  instanceType: string;
  usdPerHour: number;
  /** Per instance launched, from launch to termination (or now): an upper bound of what EC2 bills. */
  instanceSeconds: number[];
}

/** Per task: the worker's own time (`ms`, absent for a task that failed) and its attempts, each a billed request. */
export interface TaskUsage {
  ms?: number;
  attempts: number;
}

export interface Ec2CostEstimate {
  instanceSeconds: number;
  billedSeconds: number;
  usdPerHour: number;
  usd: number;
}

/**
 * On-demand compute cost. Give per-instance seconds as an array to apply Linux's 60-second minimum per
 * instance; a single number is billed as is. EBS volume and data transfer are not included.
 */
export function estimateEc2Cost({
  instanceSeconds,
  usdPerHour = DEFAULT_USD_PER_HOUR,
}: {
  instanceSeconds: number | number[];
  usdPerHour?: number;
}): Ec2CostEstimate {
  const list = Array.isArray(instanceSeconds) ? instanceSeconds : [instanceSeconds];
  if (list.some((s) => !Number.isFinite(s) || s < 0))
    throw new RangeError('estimateEc2Cost: instanceSeconds must be finite and at least 0');
  if (!Number.isFinite(usdPerHour) || usdPerHour < 0)
    throw new RangeError('estimateEc2Cost: usdPerHour must be finite and at least 0');
  const total = list.reduce((a, b) => a + b, 0);
  const billed = Array.isArray(instanceSeconds) ? list.reduce((a, s) => a + Math.max(60, s), 0) : total;
  return { instanceSeconds: total, billedSeconds: billed, usdPerHour, usd: (billed / 3600) * usdPerHour };
}

/** Worker GB-seconds at the function's memory size, plus requests (every attempt is a billed invocation). */
export function lambdaCost(tasks: readonly TaskUsage[], pricing: LambdaPricing = DEFAULT_LAMBDA_PRICING): LambdaCost {
  const workerMs = tasks.reduce((sum, r) => sum + (r.ms ?? 0), 0);
  const requests = tasks.reduce((sum, r) => sum + r.attempts, 0);
  const gbSeconds = (workerMs / 1000) * (pricing.workerMemoryMb / 1024);
  return {
    backend: 'lambda',
    requests,
    gbSeconds: Math.round(gbSeconds * 1000) / 1000,
    usd: gbSeconds * pricing.usdPerGbSecond + (requests / 1e6) * pricing.usdPerMillionRequests,
    pricing,
  };
}

/** The instances' on-demand cost, seconds rounded to tenths for the report. */
export function ec2Cost(usage: InstanceUsage): Ec2Cost {
  const cost = estimateEc2Cost({ instanceSeconds: usage.instanceSeconds, usdPerHour: usage.usdPerHour });
  return {
    backend: 'ec2',
    instanceType: usage.instanceType,
    instances: usage.instanceSeconds.length,
    instanceSeconds: Math.round(cost.instanceSeconds * 10) / 10,
    billedSeconds: Math.round(cost.billedSeconds * 10) / 10,
    usdPerHour: cost.usdPerHour,
    usd: cost.usd,
  };
}

/**
 * The cost of one fan-out on the backend called `backend`: Lambda from the tasks' worker time and attempts, EC2
 * from the instances the backend metered; null for the local backend (and for EC2 without a meter).
 */
export function fanoutCost(
  backend: 'lambda' | 'ec2' | 'local',
  usage: { tasks: readonly TaskUsage[]; pricing?: LambdaPricing | undefined; instances?: InstanceUsage | undefined },
): FanoutCost | null {
  if (backend === 'lambda') return lambdaCost(usage.tasks, usage.pricing);
  if (backend === 'ec2' && usage.instances !== undefined) return ec2Cost(usage.instances);
  return null;
}
