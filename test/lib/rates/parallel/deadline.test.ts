/**
 * lib/rates/parallel/deadline.ts with an in-memory backend whose chosen tasks never answer (as a stuck local worker
 * thread): without an abort it is fanout() itself; at the abort it returns at once with the tasks not yet settled.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../../lib/fanout/index.ts';
import { fanoutUntilAborted } from '../../../../lib/rates/parallel/deadline.ts';

/** Answers n × 10, except for the tasks in `stuck`, which never answer. */
function backend(stuck: ReadonlySet<number>): Backend<number, number> {
  return {
    name: 'memory',
    run: (n) => (stuck.has(n) ? new Promise<never>(() => undefined) : Promise.resolve(n * 10)),
  };
}

describe('fanoutUntilAborted', () => {
  it('is fanout() when there is no signal, or it never fires', async () => {
    const plain = await fanoutUntilAborted([1, 2, 3], backend(new Set()), {});
    const signalled = await fanoutUntilAborted([1, 2, 3], backend(new Set()), { signal: new AbortController().signal });
    for (const ran of [plain, signalled]) {
      expect('result' in ran && ran.result.outcomes.map((o) => o.ok && o.value)).toEqual([10, 20, 30]);
    }
  });

  it('returns at the abort with the tasks still running, though the backend never ends them', async () => {
    const controller = new AbortController();
    let settled = 0;
    const ran = await fanoutUntilAborted([1, 2, 3, 4], backend(new Set([2, 4])), {
      signal: controller.signal,
      onProgress: (event) => {
        if (event.kind === 'succeeded' && ++settled === 2) controller.abort(new Error('deadline'));
      },
    });
    expect(ran).toEqual({
      unsettled: [
        { index: 1, attempts: 1 },
        { index: 3, attempts: 1 },
      ],
    });
  });

  it('is the fan-out’s own answer when nothing is left running at the abort (a signal that had fired before)', async () => {
    const ran = await fanoutUntilAborted([1, 2], backend(new Set()), { signal: AbortSignal.abort('late') });
    expect('result' in ran && ran.result.outcomes.map((o) => !o.ok && [o.error.kind, o.attempts])).toEqual([
      ['aborted', 0],
      ['aborted', 0],
    ]);
  });
});
