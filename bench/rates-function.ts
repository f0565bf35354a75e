/**
 * One "Lambda container" for the rates benchmark: a fresh process that imports the real handler, runs it
 * on one S3 event against the local S3 server, and reports its wall time and peak RSS. A process of its
 * own, so the RSS measured is the function's, not the benchmark driver's.
 *
 *   node --import tsx bench/rates-function.ts <bucket> <key>
 */
import type { Context } from 'aws-lambda';

const [bucket, key] = process.argv.slice(2);
if (!bucket || !key) {
  process.stderr.write('usage: rates-function.ts <bucket> <key>\n');
  process.exit(2);
}

const { handler } = await import('../functions/rates.ts');
const event = {
  Records: [
    {
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      eventName: 'ObjectCreated:Put',
      s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replaceAll('%2F', '/') } },
    },
  ],
};
const started = performance.now();
const reply = await handler(event, {} as Context);
const wallMs = performance.now() - started;
process.stdout.write(`${JSON.stringify({ wallMs, maxRssMb: process.resourceUsage().maxRSS / 1024, reply })}\n`);
