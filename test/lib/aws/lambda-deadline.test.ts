import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaDeadlineSignal } from '../../../lib/aws/lambda-deadline.ts';

describe('lambdaDeadlineSignal', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('aborts `marginMs` before the invocation runs out of time', () => {
    const { signal, dispose } = lambdaDeadlineSignal({ getRemainingTimeInMillis: () => 60_000 }, 30_000);
    vi.advanceTimersByTime(29_999);
    expect(signal!.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(signal!.aborted).toBe(true);
    expect((signal!.reason as Error).message).toBe("deadline: not finished 30 s before the function's timeout");
    dispose();
  });

  it('aborts at once when less time is left than the margin', () => {
    const { signal } = lambdaDeadlineSignal({ getRemainingTimeInMillis: () => 10_000 }, 30_000);
    vi.advanceTimersByTime(0);
    expect(signal!.aborted).toBe(true);
  });

  it('never fires once disposed, and gives no signal without a Lambda context', () => {
    const { signal, dispose } = lambdaDeadlineSignal({ getRemainingTimeInMillis: () => 1000 }, 0);
    dispose();
    vi.advanceTimersByTime(5000);
    expect(signal!.aborted).toBe(false);
    expect(lambdaDeadlineSignal(undefined, 1000).signal).toBeUndefined();
    expect(lambdaDeadlineSignal({}, 1000).signal).toBeUndefined();
  });
});
