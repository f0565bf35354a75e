import { TerminateInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';

/**
 * The EC2 backend's book of instances: every instance launched (for the cost and the progress counts), the ones
 * not yet terminated (for close()), and termination itself. The launcher (./launcher.ts) adds to it, the
 * backend (./backend.ts) terminates an instance once all of its tasks have settled.
 */

export interface Tracked {
  /** The tasks (by index) this instance runs. */
  indexes: number[];
  /** Tasks on it not settled yet; at 0 the instance is terminated. */
  unsettled: number;
  state: 'pending' | 'running' | 'done';
  launchedAt: number;
  /**
   * When a poll first saw it `running` (so late by up to one poll interval; EC2 tells the launch time but not when
   * the instance started running). Unset when the result came before any poll saw it running.
   */
  runningAt?: number;
  /** When we asked EC2 to terminate it (or saw it exit), for the cost estimate. */
  endedAt?: number;
}

export type FleetProgress = { pending: number; running: number; done: number; total: number };

export interface Fleet {
  /** Records an instance RunInstances just answered with. */
  add(id: string, indexes: number[]): Tracked;
  /** Terminates those of `ids` still alive; throws what EC2 threw, leaving them alive. */
  terminate(ids: string[]): Promise<void>;
  /** Terminates after a task ended; a failure leaves the id alive for close() and must not hide the task's outcome. */
  terminateQuietly(id: string): Promise<void>;
  /** Reports the instances' states to the caller's onProgress. */
  progress(): void;
  /** Ids launched and not yet terminated by us. */
  live(): string[];
  /** Seconds each instance lived, from launch to the termination request (or now). */
  instanceSeconds(): number[];
}

export function createFleet(
  ec2: EC2Client,
  now: () => number,
  onProgress: ((p: FleetProgress) => void) | undefined,
): Fleet {
  const tracked = new Map<string, Tracked>(); // every instance launched, by id
  const live = new Set<string>(); // launched and not yet terminated by us

  const terminate = async (ids: string[]): Promise<void> => {
    const targets = ids.filter((id) => live.has(id));
    if (targets.length === 0) return;
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: targets }));
    const at = now();
    for (const id of targets) {
      live.delete(id);
      const entry = tracked.get(id);
      if (entry && entry.endedAt === undefined) entry.endedAt = at;
    }
  };

  return {
    add(id, indexes) {
      const entry: Tracked = { indexes, unsettled: indexes.length, state: 'pending', launchedAt: now() };
      tracked.set(id, entry);
      live.add(id);
      return entry;
    },

    terminate,

    async terminateQuietly(id) {
      try {
        await terminate([id]);
      } catch (error) {
        process.emitWarning(
          `ec2Backend: could not terminate ${id} (close() will try again): ${(error as Error)?.message ?? String(error)}`,
        );
      }
    },

    progress() {
      if (!onProgress) return;
      const states = [...tracked.values()].map((t) => t.state);
      try {
        onProgress({
          pending: states.filter((s) => s === 'pending').length,
          running: states.filter((s) => s === 'running').length,
          done: states.filter((s) => s === 'done').length,
          total: states.length,
        });
      } catch (error) {
        process.emitWarning(
          `ec2Backend: onProgress threw and was ignored: ${(error as Error)?.message ?? String(error)}`,
        );
      }
    },

    live: () => [...live],

    instanceSeconds() {
      const at = now();
      return [...tracked.values()].map((t) => Math.max(0, ((t.endedAt ?? at) - t.launchedAt) / 1000));
    },
  };
}
