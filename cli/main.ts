/**
 * `cloud-parallel` — the command line for the local stack and the jobs.
 *
 *   cloud-parallel local start|stop|status|env
 *   cloud-parallel rates <file.csv> [--bins N] [--numerator C] [--denominator C] [--out DIR] [--json]
 *   cloud-parallel demo
 *   cloud-parallel bench [rates]
 *
 * Exit codes: 0 done; 1 a refused command line (its message on stderr, then the command's usage — or with --json
 * `{"error": {"code", "message"}}` on stdout), or a job that failed or finished incomplete; 2 a bug or an outage
 * (with its stack trace); 130 interrupted by SIGINT/SIGTERM, after ending what the command started (cli/interrupt.ts).
 */
import { UserError } from '../lib/errors.ts';
import { runCli } from './commands.ts';
import { installInterruptHandlers, interruptCleanup, wasInterrupted } from './interrupt.ts';
import { CliError } from './cli-error.ts';
import { wantsJson } from './spec.ts';

const args = process.argv.slice(2);
installInterruptHandlers();
try {
  process.exitCode = await runCli(args);
} catch (error) {
  // An interrupted command fails with the abort (or with what the abort broke): not an error to report, the
  // clean-up under way decides the exit.
  if (wasInterrupted()) await interruptCleanup();
  if (error instanceof UserError) {
    if (wantsJson(args)) {
      process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
    } else {
      const usage = error instanceof CliError && error.usage !== undefined ? `\n${error.usage}` : '';
      process.stderr.write(`cloud-parallel: ${error.message}\n${usage}`);
    }
    process.exitCode = 1;
  } else {
    process.stderr.write(`cloud-parallel: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 2;
  }
}
// A command that returned after the signal (with a partial result) exits 130 too, once the clean-up is done.
if (wasInterrupted()) await interruptCleanup();
