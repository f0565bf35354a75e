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
 * (with its stack trace).
 */
import { UserError } from '../lib/errors.ts';
import { runCli } from './commands.ts';
import { CliError, wantsJson } from './shared.ts';

const args = process.argv.slice(2);
try {
  process.exitCode = await runCli(args);
} catch (error) {
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
