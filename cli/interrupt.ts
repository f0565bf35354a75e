/**
 * Ctrl-C (SIGINT) and SIGTERM for the CLI: whatever a command started — the local stack, EC2 instances, a
 * multipart upload — is ended before the process exits with 130 (128 + SIGINT's number, what shells report for a
 * Ctrl-C'd command).
 *
 * The first signal aborts {@link interruptSignal}, which the long operations take (they stop starting work and clean
 * up after themselves), prints one line on stderr naming what is being cleaned up, then runs the registered
 * clean-ups, newest first (instances go before the stack whose EC2 endpoint terminates them), and exits 130. A
 * second signal exits 130 at once, for a clean-up that hangs.
 *
 * Without a handler, Node dies on SIGINT at once: the stack's processes run in process groups of their own (so
 * `local stop` can end each group), so a terminal's Ctrl-C never reaches them and they were left running.
 */

export interface Cleanup {
  /** What it does, as the stderr line lists it: "stopping the local stack this command started". */
  what: string;
  run: () => Promise<unknown> | unknown;
}

/** The reason {@link interruptSignal} aborts with. */
export class InterruptedError extends Error {
  constructor(readonly signalName: NodeJS.Signals) {
    super(`interrupted by ${signalName}`);
    this.name = 'AbortError';
  }
}

export const INTERRUPTED_EXIT_CODE = 130;

const controller = new AbortController();
const cleanups: Cleanup[] = [];
let interrupted: Promise<never> | undefined;

/** Aborted on the first SIGINT/SIGTERM once {@link installInterruptHandlers} has run; never before. */
export const interruptSignal: AbortSignal = controller.signal;

/**
 * Registers a clean-up to run if the command is interrupted; returns its removal, for when the command has
 * ended the thing itself. Register as soon as there is something to end (before awaiting its start), and make
 * `run` wait for what the interrupted operation does on abort rather than race it.
 */
export function onInterrupt(what: string, run: Cleanup['run']): () => void {
  const cleanup = { what, run };
  cleanups.push(cleanup);
  return () => {
    const index = cleanups.indexOf(cleanup);
    if (index !== -1) cleanups.splice(index, 1);
  };
}

/** Whether a signal has arrived: the command's own outcome no longer matters, the clean-up decides the exit. */
export function wasInterrupted(): boolean {
  return interrupted !== undefined;
}

/** Waits for the clean-ups of an interruption, which end the process; call it only when {@link wasInterrupted}. */
export function interruptCleanup(): Promise<never> {
  if (interrupted === undefined) throw new Error('interruptCleanup() called without an interruption');
  return interrupted;
}

export interface InterruptOptions {
  /** Default `process.exit`: replaceable for tests. */
  exit?: (code: number) => never;
  /** Default stderr. */
  write?: (line: string) => void;
}

let installed = false;

/** Handles SIGINT and SIGTERM from now on (once per process; later calls do nothing). */
export function installInterruptHandlers(options: InterruptOptions = {}): void {
  if (installed) return;
  installed = true;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const onSignal = (signalName: NodeJS.Signals) => {
    if (interrupted !== undefined) {
      write(`cloud-parallel: ${signalName} again: exiting without finishing the clean-up\n`);
      exit(INTERRUPTED_EXIT_CODE);
      return;
    }
    interrupted = runCleanups(signalName, exit, write);
    // Nobody awaits it when the command's own promise has not settled yet: its end is process.exit.
    interrupted.catch(() => undefined);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function runCleanups(
  signalName: NodeJS.Signals,
  exit: (code: number) => never,
  write: (line: string) => void,
): Promise<never> {
  const pending = [...cleanups].reverse();
  cleanups.length = 0;
  write(
    `cloud-parallel: interrupted by ${signalName}; ${pending.length === 0 ? 'nothing to clean up' : `${pending.map((c) => c.what).join(', then ')}`}` +
      ` (${signalName === 'SIGINT' ? 'Ctrl-C' : signalName} again to exit at once)\n`,
  );
  // Aborted after the line is written: what the abort makes the command print comes after it.
  controller.abort(new InterruptedError(signalName));
  for (const cleanup of pending) {
    try {
      await cleanup.run();
    } catch (error) {
      // Reported, and the other clean-ups still run: one failure must not leave the rest running.
      write(`cloud-parallel: ${cleanup.what} failed: ${(error as Error)?.message ?? String(error)}\n`);
    }
  }
  return exit(INTERRUPTED_EXIT_CODE);
}

/** Resolves when `promise` settles, whichever way: for a clean-up that waits for an aborted operation to unwind. */
export async function settled(promise: Promise<unknown>): Promise<void> {
  await Promise.allSettled([promise]);
}

/**
 * Awaits an operation that cleans up after itself when {@link interruptSignal} aborts (terminates its instances,
 * aborts its multipart upload): an interruption meanwhile waits for that clean-up before the process exits.
 */
export async function awaitCleanly<T>(what: string, operation: Promise<T>): Promise<T> {
  const release = onInterrupt(what, () => settled(operation));
  try {
    return await operation;
  } finally {
    release();
  }
}
