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
  /**
   * What the task was, for a chart's row, when its index alone does not say: set by {@link mergeTraces} for a run of
   * several fan-outs (`parse 3`, `stats r2 5`); `fanout()` leaves it out.
   */
  label?: string;
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

/** One fan-out of a run made of several, and the name of each of its tasks (by the task's index in that fan-out). */
export interface TracePart {
  trace: FanoutTrace;
  label?: (index: number) => string;
}

/**
 * Several fan-outs of one run (a coordinator's phases, one after another) as one trace, for one timeline: the tasks
 * in the order given, renumbered from 0 across the parts, each labelled as its part says. The run's span is `span`
 * when given (the coordinator's own, so the work between the fan-outs shows as such), else from the first
 * fan-out's start to the last one's end; the backend is the parts' backends, each named once.
 */
export function mergeTraces(parts: readonly TracePart[], span?: { startedAt: number; endedAt: number }): FanoutTrace {
  if (parts.length === 0 && span === undefined) throw new TypeError('mergeTraces: no traces and no span to cover');
  const tasks: TaskRecord[] = [];
  for (const { trace, label } of parts) {
    for (const task of [...trace.tasks].sort((a, b) => a.index - b.index)) {
      const named = label === undefined ? task.label : label(task.index);
      tasks.push({ index: tasks.length, attempts: task.attempts, ...(named === undefined ? {} : { label: named }) });
    }
  }
  const backends = [...new Set(parts.map((p) => p.trace.backend))];
  return {
    backend: backends.join(' + '),
    startedAt: span?.startedAt ?? Math.min(...parts.map((p) => p.trace.startedAt)),
    endedAt: span?.endedAt ?? Math.max(...parts.map((p) => p.trace.endedAt)),
    tasks,
  };
}
