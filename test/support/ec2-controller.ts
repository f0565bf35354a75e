/**
 * A fan-out controller in a process of its own, for test/lib/fanout/ec2/orphans.test.ts to SIGKILL mid-run: it counts primes
 * on the EC2 backend exactly as the fan-out Lambda and the CLI do (runPrimesOnEc2 → withEc2Run → ec2Backend), with
 * the worker bundle given, and would terminate its instances at the deadline — if it lived that long.
 *
 * Usage: node --import tsx test/support/ec2-controller.ts '<json>' with
 * { s3Endpoint, ec2Endpoint, bucket, bundlePath, runId, deadlineMs, chunks }.
 * Prints one JSON line when the run ends (it is not meant to).
 */
import { readFileSync } from 'node:fs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { runPrimesOnEc2 } from '../../lib/primes/ec2.ts';
import { parsePrimesRunInput } from '../../lib/primes/run-input.ts';
import { LOCAL_IMAGE_ID } from '../../local-stack/ec2/server.ts';
import { TEST_CREDENTIALS } from './signing.ts';

const argsSchema = z.object({
  s3Endpoint: z.url(),
  ec2Endpoint: z.url(),
  bucket: z.string().min(3),
  bundlePath: z.string().min(1),
  runId: z.string().regex(/^[A-Za-z0-9._-]+$/),
  deadlineMs: z.number().int().positive(),
  chunks: z.number().int().min(1).max(8),
});

const args = argsSchema.parse(JSON.parse(process.argv[2] ?? 'null'));
const credentials = TEST_CREDENTIALS;
const s3 = new S3Client({ region: 'us-east-1', credentials, endpoint: args.s3Endpoint, forcePathStyle: true });
const ec2 = new EC2Client({ region: 'us-east-1', credentials, endpoint: args.ec2Endpoint });

const result = await runPrimesOnEc2(
  parsePrimesRunInput({ start: 0, end: args.chunks * 1000, chunks: args.chunks, backend: 'ec2' }),
  { ec2, s3 },
  {
    bucket: args.bucket,
    tags: { service: 'cloud-parallel', stage: 'test' },
    imageId: LOCAL_IMAGE_ID,
    deadlineMs: args.deadlineMs,
    pollMs: 50,
    maxInstances: 8,
    nodeMajor: Number(process.versions.node.split('.')[0]),
  },
  { runId: args.runId, bundle: readFileSync(args.bundlePath), retries: 0 },
);
process.stdout.write(`${JSON.stringify({ done: true, failedChunks: result.failedChunks.length })}\n`);
