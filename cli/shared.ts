import type { S3Client } from '@aws-sdk/client-s3';
import { stackEnvironment, startStack, stopStack, type StackOptions, type StackState } from '../local-stack/stack.ts';
import { CliError } from './cli-error.ts';
import { interruptSignal, onInterrupt } from './interrupt.ts';

/** What the commands share: progress lines and the local stack. */

export const progress = (message: string) => process.stderr.write(`• ${message}\n`);

/**
 * startStack that Ctrl-C stops: a signal while it starts makes it stop what it spawned, and one after it started
 * the stack (not found it running) stops the stack. `stop` stops a stack this call started (once, however often it
 * is called: the command and the interrupt's clean-up may both call it); `release` ends the interrupt's claim (the
 * command stopped the stack itself, or hands it over to the user as `local start` does).
 */
export async function startStackInterruptibly(
  options: Omit<StackOptions, 'signal'>,
): Promise<{ state: StackState; started: boolean; stop: () => Promise<unknown>; release: () => void }> {
  const starting = startStack({ ...options, signal: interruptSignal });
  let stopping: Promise<unknown> | undefined;
  const stop = () => (stopping ??= stopStack(options));
  // Registered before the start is awaited: a signal during the start waits for startStack's own clean-up.
  const release = onInterrupt('stopping the local stack this command started', async () => {
    const [outcome] = await Promise.allSettled([starting]);
    if (outcome.status === 'fulfilled' && outcome.value.started) await stop();
  });
  try {
    const { state, started } = await starting;
    if (!started) release(); // someone else's stack: not ours to stop
    return { state, started, stop, release };
  } catch (error) {
    release(); // startStack stopped what it had spawned before rejecting
    throw error;
  }
}

/**
 * Runs `work` against the local stack, starting it first if needed and stopping it after if we started it — unless
 * `keep` hands it over to the user (`demo --keep`), who stops it with `local stop`.
 */
export async function withStack<T>(
  work: (state: StackState, s3: S3Client) => Promise<T>,
  quiet = false,
  { keep = false }: { keep?: boolean } = {},
): Promise<T> {
  const { state, started, stop, release } = await startStackInterruptibly({
    onProgress: quiet ? () => undefined : progress,
  });
  Object.assign(process.env, stackEnvironment(state));
  try {
    // Loaded here: the S3 client is heavy, and a command that refuses its arguments never needs it.
    const { createS3Client } = await import('../lib/aws/s3.ts');
    const value = await work(state, createS3Client());
    // Interrupted while working: whatever came back is partial; the interrupt's clean-up decides the exit (130).
    interruptSignal.throwIfAborted();
    return value;
  } finally {
    if (started && keep && !interruptSignal.aborted) release();
    else if (started) {
      // Interrupted: the interrupt's line on stderr has said so already.
      if (!quiet && !interruptSignal.aborted) progress('stopping the local stack this command started');
      await stop();
      release();
    }
  }
}

export function dataBucket(state: StackState): string {
  const bucket = state.service.environment.DATA_BUCKET ?? state.service.buckets[0];
  if (!bucket)
    throw new CliError('serverless.yml declares no data bucket (provider.environment.DATA_BUCKET)', 'CONFIG');
  return bucket;
}
