/**
 * An AbortSignal that fires `marginMs` before the invocation runs out of time, so long work can stop starting
 * things and clean up (terminate instances, save what it has) while the function still runs. Without a Lambda
 * context (a CLI, a test) there is no deadline and no signal.
 */
export function lambdaDeadlineSignal(
  context: { getRemainingTimeInMillis?: () => number } | undefined,
  marginMs: number,
): { signal: AbortSignal | undefined; dispose: () => void } {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined || !Number.isFinite(remaining)) return { signal: undefined, dispose: () => undefined };
  const controller = new AbortController();
  // The reason ends up in every unfinished chunk's failedChunks entry (lib/fanout/errors.ts abortReason).
  const seconds = Math.round(marginMs / 100) / 10;
  const timer = setTimeout(
    () => controller.abort(new Error(`deadline: not finished ${seconds} s before the function's timeout`)),
    Math.max(0, remaining - marginMs),
  );
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}
