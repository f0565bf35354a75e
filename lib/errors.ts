/**
 * The project's errors: one root, {@link CloudParallelError}, with a `code`, and three kinds told apart with
 * `instanceof` (never by `name`):
 *   - {@link UserError}: the input or the command line was refused. Its message is written for the person running the
 *     tool: front ends print it as is, with its code, and handlers answer it as `{error: {code, message}}`.
 *   - {@link ConfigError}: the deployment's configuration is wrong; whoever deployed it fixes it.
 *   - {@link InfrastructureError}: a run that failed for reasons outside the input (S3, the disk, a worker): it keeps
 *     its stack, Lambda retries it, and its `code` is a prototype getter so it never adds a field to a log line.
 * Errors of other libraries (the AWS SDK, Node's sockets) are recognised by their `name`/`code`: they have no class
 * of ours to match. Outside this tree on purpose: module-private control-flow signals that never leave their module
 * (lib/scrape/http.ts, lib/scrape/store.ts), the CLI's InterruptedError (an abort reason, named AbortError so every
 * abort check treats it as one), and the local stack's errors, which carry the emulated service's own error codes.
 */
export abstract class CloudParallelError extends Error {
  abstract readonly code: string;
}

export class UserError extends CloudParallelError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'UserError';
    // No stack frames: the message is the whole story. A Lambda runtime copies `stack` into the reply of an
    // invocation that throws (`trace`), where it would show the caller only this project's internals.
    this.stack = `${this.name}: ${message}`;
  }
}

export class ConfigError extends CloudParallelError {
  readonly code: string = 'INVALID_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
    // As for UserError: the message names the variable and what is allowed; the Lambda runtime would otherwise put
    // this module's stack frames into the reply of every invocation of a container that failed to start.
    this.stack = `${this.name}: ${message}`;
  }
}

/** Subclasses give `code` as a getter (`get code() { return 'PUBLISH_FAILED' }`), not as a field: see above. */
export abstract class InfrastructureError extends CloudParallelError {}
