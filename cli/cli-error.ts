import { UserError } from '../lib/errors.ts';

/** A command line the CLI refuses, or a command's own user error: a message for a person, no stack. */
export class CliError extends UserError {
  /**
   * `usage`: what to print after the message (on stderr, not in `--json` output) — the command's usage lines for
   * a mistake in its arguments.
   */
  constructor(
    message: string,
    code = 'USAGE',
    readonly usage?: string,
  ) {
    super(code, message);
  }
}
