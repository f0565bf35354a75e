/**
 * The throttled progress object (lib/aws/throttled-object.ts): a forced report is written at once, the others at most
 * once per interval — a held-back one when the interval is over —, flush ends the object at the latest state, a
 * failed write is a warning and never an error, and nothing is written after delete. The S3 client is real; a
 * middleware at its first step records each command instead of sending it. Time is the test's own (fake timers).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { throttledObjectWriter } from '../../../lib/aws/throttled-object.ts';
import { logger } from '../../../lib/observability.ts';

interface Sent {
  command: string;
  key: string;
  body?: unknown;
}

function recordingS3(fail: (sent: Sent) => boolean = () => false): { s3: S3Client; sent: Sent[] } {
  const sent: Sent[] = [];
  const s3 = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://127.0.0.1:1',
  });
  s3.middlewareStack.add(
    (_next, context) => async (args) => {
      const input = args.input as { Key: string; Body?: string };
      const one: Sent = {
        command: String(context.commandName),
        key: input.Key,
        ...(input.Body === undefined ? {} : { body: JSON.parse(input.Body) }),
      };
      if (fail(one)) throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      sent.push(one);
      return { output: { $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'recordInsteadOfSending' },
  );
  return { s3, sent };
}

const KEY = 'results/primes/r1/progress.json';
let clock = 0;
const now = () => clock;

beforeEach(() => {
  vi.useFakeTimers();
  clock = 1_000;
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Moves both the writer's clock and the timers on. */
async function advance(ms: number): Promise<void> {
  clock += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

const bodies = (sent: Sent[]) => sent.filter((s) => s.command === 'PutObjectCommand').map((s) => s.body);

describe('throttledObjectWriter', () => {
  it('writes a forced report at once and holds the rest back to one write per interval', async () => {
    const { s3, sent } = recordingS3();
    const writer = throttledObjectWriter<{ done: number }>(s3, {
      bucket: 'b',
      key: KEY,
      intervalMs: 500,
      what: 'x',
      now,
    });
    writer.report({ done: 0 }, { force: true });
    await writer.settled();
    writer.report({ done: 1 });
    writer.report({ done: 2 });
    await writer.settled();
    expect(bodies(sent)).toEqual([{ done: 0 }]);
    await advance(499);
    expect(bodies(sent)).toEqual([{ done: 0 }]);
    // The interval is over: the latest held-back state goes out, the one before it never does.
    await advance(1);
    await writer.settled();
    expect(bodies(sent)).toEqual([{ done: 0 }, { done: 2 }]);
    expect(sent.every((s) => s.key === KEY)).toBe(true);
  });

  it('writes at once a report that comes after the interval, and a forced one within it', async () => {
    const { s3, sent } = recordingS3();
    const writer = throttledObjectWriter<number>(s3, { bucket: 'b', key: KEY, intervalMs: 500, what: 'x', now });
    writer.report(1);
    clock += 600;
    writer.report(2);
    writer.report(3, { force: true });
    await writer.settled();
    expect(bodies(sent)).toEqual([1, 2, 3]);
    // Nothing was held back, so nothing more is written later.
    await advance(5_000);
    expect(bodies(sent)).toEqual([1, 2, 3]);
  });

  it('flush writes the latest state if it was held back, and nothing when it was written', async () => {
    const { s3, sent } = recordingS3();
    const writer = throttledObjectWriter<number>(s3, { bucket: 'b', key: KEY, intervalMs: 500, what: 'x', now });
    writer.report(1);
    writer.report(2);
    await writer.flush();
    expect(bodies(sent)).toEqual([1, 2]);
    await writer.flush();
    await advance(5_000);
    expect(bodies(sent)).toEqual([1, 2]);
  });

  it('a failed write is one warning, never an error, and later writes still go out', async () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    let failing = true;
    const { s3, sent } = recordingS3(() => failing);
    const writer = throttledObjectWriter<number>(s3, {
      bucket: 'b',
      key: KEY,
      intervalMs: 0,
      what: 'the progress of run r1',
      now,
    });
    writer.report(1);
    writer.report(2);
    await writer.settled();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toBe('could not write the progress of run r1');
    failing = false;
    writer.report(3);
    await writer.flush();
    expect(bodies(sent)).toEqual([3]);
  });

  it('deletes the object after the last write, and writes nothing after that', async () => {
    const { s3, sent } = recordingS3();
    const writer = throttledObjectWriter<number>(s3, { bucket: 'b', key: KEY, intervalMs: 500, what: 'x', now });
    writer.report(1);
    writer.report(2); // held back: the delete cancels it
    await writer.delete();
    writer.report(3, { force: true });
    await advance(5_000);
    expect(sent.map((s) => s.command)).toEqual(['PutObjectCommand', 'DeleteObjectCommand']);
    expect(bodies(sent)).toEqual([1]);
  });
});
