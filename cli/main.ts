/**
 * `cloud-parallel` — the command line for the local stack and the jobs.
 *
 *   cloud-parallel local start|stop|status|env
 *   cloud-parallel rates <file.csv> [--bins N] [--numerator C] [--denominator C] [--out DIR] [--json]
 *   cloud-parallel demo
 *   cloud-parallel bench [rates]
 */
import { UserError } from '../lib/errors.ts';
import { runCli } from './commands.ts';

const args = process.argv.slice(2);
try {
  process.exitCode = await runCli(args);
} catch (error) {
  if (error instanceof UserError) {
    if (args.includes('--json')) {
      process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
    } else {
      process.stderr.write(`cloud-parallel: ${error.message}\n`);
    }
    process.exitCode = 1;
  } else {
    process.stderr.write(`cloud-parallel: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 2;
  }
}
