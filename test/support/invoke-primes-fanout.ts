/**
 * Runs the primes-fanout handler once in a process of its own and prints its reply as one JSON line, then lets the
 * process end by itself: test/lib/primes/fanout-deadline.test.ts measures how soon it exits after the reply, which is
 * how long anything the run left behind (a timer, a socket, a pending promise holding one) keeps it alive.
 *
 * argv: the event as JSON, and the milliseconds the simulated invocation has left. Endpoints come from the environment.
 */
import type { Context } from 'aws-lambda';
import { lambdaContext } from './lambda-context.ts';

const [eventJson, remainingMs] = process.argv.slice(2);
if (eventJson === undefined || remainingMs === undefined || !Number.isFinite(Number(remainingMs))) {
  process.stderr.write('usage: invoke-primes-fanout.ts <event-json> <remaining-ms>\n');
  process.exit(2);
}
const { handler } = (await import('../../functions/primes-fanout.ts')) as {
  handler: (event: unknown, context: Context) => Promise<unknown>;
};
const endsAt = Date.now() + Number(remainingMs);
const context: Context = {
  ...lambdaContext('cloud-parallel-test-primes-fanout'),
  getRemainingTimeInMillis: () => endsAt - Date.now(),
};
const reply = await handler(JSON.parse(eventJson), context);
process.stdout.write(`${JSON.stringify(reply)}\n`);
