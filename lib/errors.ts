/**
 * An error whose message is written for the person running the tool: front ends print it as is,
 * with its code, and no stack trace. Everything else is a bug or an outage and keeps its stack.
 */
export class UserError extends Error {
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
