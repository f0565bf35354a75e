/**
 * The worker side of a fan-out's timeline on Lambda, as a middy middleware: it adds what the invocation knows of
 * itself to the reply (lib/fanout/trace.ts WORKER_FACTS_KEY), which the Lambda backend takes out again before the
 * caller sees the value — its clock when the handler started and ended, the container it ran in, and whether this
 * was the container's first invocation (a cold start: the module was loaded for it).
 *
 * Use it first, so its `before` runs before the others and its `after` last, around all of the handler's work:
 *
 *   middy(handler).use(workerFacts()).use(observability()).use(jobErrors({ job: 'primes-worker' }))
 *
 * A reply that is not a plain object (a number, a list) is left alone: there is nowhere to put the facts. A handler
 * that throws sends none either (Lambda's error payload has no room), so its attempt is drawn with the
 * coordinator's span only.
 */
import { randomUUID } from 'node:crypto';
import type middy from '@middy/core';
import { WORKER_FACTS_KEY, type WorkerFacts } from '../fanout/trace.ts';

// Module state lives as long as the container: one id for all the invocations it serves, and how many it served.
const containerId = `lambda-${randomUUID()}`;
let served = 0;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

export function workerFacts(): middy.MiddlewareObj<unknown, unknown> {
  // Keyed by request: a container serves one invocation at a time on Lambda, but a test or emulator may overlap them.
  const startedAt = new WeakMap<object, { at: number; coldStart: boolean }>();
  return {
    before(request) {
      startedAt.set(request, { at: Date.now(), coldStart: served === 0 });
      served += 1;
    },
    after(request) {
      const start = startedAt.get(request);
      if (!start || !isPlainObject(request.response)) return;
      const facts: WorkerFacts = {
        startedAt: start.at,
        endedAt: Date.now(),
        workerId: containerId,
        coldStart: start.coldStart,
      };
      request.response = { ...request.response, [WORKER_FACTS_KEY]: facts };
    },
  };
}
