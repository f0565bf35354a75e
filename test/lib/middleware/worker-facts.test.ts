import middy from '@middy/core';
import { describe, expect, it } from 'vitest';
import { workerFacts } from '../../../lib/middleware/worker-facts.ts';
import { lambdaContext } from '../../support/lambda-context.ts';

const context = lambdaContext('cloud-parallel-test-worker');

describe('workerFacts middleware', () => {
  it('adds the clock, the container and a cold start only on the container’s first invocation', async () => {
    const handler = middy(async (event: { n: number }) => ({ square: event.n * event.n })).use(workerFacts());
    const before = Date.now();
    const first = (await handler({ n: 2 }, context)) as Record<string, unknown>;
    const second = (await handler({ n: 3 }, context)) as Record<string, unknown>;
    expect(first).toMatchObject({ square: 4, fanoutWorker: { coldStart: true } });
    expect(second).toMatchObject({ square: 9, fanoutWorker: { coldStart: false } });
    const facts = first.fanoutWorker as { startedAt: number; endedAt: number; workerId: string };
    expect(facts.startedAt).toBeGreaterThanOrEqual(before);
    expect(facts.endedAt).toBeGreaterThanOrEqual(facts.startedAt);
    expect(facts.workerId).toMatch(/^lambda-[0-9a-f-]{36}$/);
    expect((second.fanoutWorker as { workerId: string }).workerId).toBe(facts.workerId);
  });

  it('leaves a reply that is not a plain object alone', async () => {
    const handler = middy(async () => [1, 2, 3]).use(workerFacts());
    expect(await handler({}, context)).toEqual([1, 2, 3]);
  });
});
