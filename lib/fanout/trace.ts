import { z } from 'zod';

/**
 * What `fanout()` records of a run for its timeline (./timeline.ts turns it into the chart's data): per task, every
 * attempt's span on the coordinator's clock, and what the worker said of itself. Times are epoch milliseconds:
 * `submittedAt`/`returnedAt` on the coordinator's clock (Date.now() around `backend.run`), `startedAt`/`endedAt` on
 * the worker's own, which may be off by any amount (another machine) until ./timeline.ts corrects it.
 */

/**
 * What a worker tells about one attempt, each field only where the platform lets it know: its clock around the
 * task, which worker it was (a Lambda container, a worker thread, an EC2 instance: attempts on one worker share a
 * clock, which makes its offset easier to pin down), whether this was the worker's first task (a Lambda cold
 * start), and on EC2 the instance and how long it took from launch to `running`.
 */
export const workerFactsSchema = z.object({
  startedAt: z.number().finite().optional(),
  endedAt: z.number().finite().optional(),
  workerId: z.string().max(200).optional(),
  coldStart: z.boolean().optional(),
  instanceId: z.string().max(200).optional(),
  launchToRunningMs: z.number().finite().min(0).optional(),
});
export type WorkerFacts = z.infer<typeof workerFactsSchema>;

/** How a backend hands the worker's facts of the current attempt to the fan-out; later calls add to earlier ones. */
export type RecordWorker = (facts: WorkerFacts) => void;

export interface AttemptRecord {
  /** 1 for the first attempt. */
  attempt: number;
  /** Coordinator clock: the attempt was handed to the backend. */
  submittedAt: number;
  /** Coordinator clock: the backend answered (the value, or the failure). */
  returnedAt: number;
  outcome: 'succeeded' | 'failed';
  /** On a failed attempt: its class and type (./errors.ts), e.g. `throttled`/`TooManyRequestsException`. */
  error?: { kind: string; type: string };
  /** Absent when the backend or worker told nothing (a Lambda invocation that threw, an old worker). */
  worker?: WorkerFacts;
}

export interface TaskRecord {
  index: number;
  /** In order; empty when the abort kept the task from starting. */
  attempts: AttemptRecord[];
}

export interface FanoutTrace {
  /** The backend's name (`lambda:fn`, `local:worker.ts#run`, `ec2:c7i.large`). */
  backend: string;
  /** Coordinator clock: fanout() was called / every task had settled. */
  startedAt: number;
  endedAt: number;
  /** One per task, in task order. */
  tasks: TaskRecord[];
}

/**
 * A Lambda worker's reply is its value itself (Lambda has no envelope of ours around it), so the worker's facts
 * travel in the value under this key (./worker-facts.ts adds it, ./lambda-backend.ts takes it out again before the
 * caller's parser sees the value).
 */
export const WORKER_FACTS_KEY = 'fanoutWorker';

/** The facts out of anything that may hold them (an envelope, a reply's reserved key); unknown fields are dropped. */
export function workerFactsOf(value: unknown): WorkerFacts | undefined {
  const parsed = workerFactsSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const facts = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as WorkerFacts;
  return Object.keys(facts).length === 0 ? undefined : facts;
}
