/**
 * Where one `cloud-parallel rates small.csv` spends its time on a running stack, read from outside after the run
 * (bench/cli.ts runs it): when the upload and summary.json were stored (the local S3 server's files), when S3's
 * notification was answered (its log), when the job began (summary.json), and when the CLI printed and exited (its
 * output, stamped as it arrived). The pre-upload part is split further by bench/cli-probe.ts, in a process of its own.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { StackState } from '../local-stack/stack.ts';
import type { ProbeLauncher } from './cli-probe-build.ts';
import type { TimedRun } from './cli-process.ts';
import { jobStartMs, lastNotificationMs, type Phase, phasesBetween } from './cli-timing.ts';

/** The key `rates small.csv` uploads to (lib/rates/client.ts uploadKeyFor) and where its results go. */
const UPLOAD_KEY = 'uploads/small.csv';
const SUMMARY_KEY = 'results/small/summary.json';

/** Where the stack's S3 server (s3rver) keeps an object's bytes: a file, whose mtime is when the PUT completed. */
function objectFile(state: StackState, bucket: string, key: string): string {
  return path.join(state.stateDir, 's3', bucket, `${key}._S3rver_object`);
}

/** The steps of one run of `rates small.csv`, adding up to its wall time. */
export function ratesPhases(run: TimedRun, state: StackState, bucket: string): Phase[] {
  const uploaded = statSync(objectFile(state, bucket, UPLOAD_KEY)).mtimeMs;
  const summaryFile = objectFile(state, bucket, SUMMARY_KEY);
  const stored = statSync(summaryFile).mtimeMs;
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Parameters<typeof jobStartMs>[0];
  const notified = lastNotificationMs(readFileSync(path.join(state.stateDir, 'logs', 's3.log'), 'utf8'), uploaded);
  const printed = run.stdout[0]?.atMs;
  return phasesBetween([
    ['spawn', run.startedAtMs],
    ['process start, module loading, upload (until S3 has stored the file)', uploaded],
    ['S3 notification (stored → the Lambda invoke API answers 202)', notified],
    ['invocation start in serverless-offline (202 → the job begins)', jobStartMs(summary)],
    ['the job (parse, rate, statistics, outputs, chart, summary.json)', stored],
    ['polling: summary.json stored → the CLI prints it', printed],
    ['after printing → the process exits', run.endedAtMs],
  ]);
}

/** One run of bench/cli-probe.ts (as bench/cli-probe-build.ts prepared it): the pre-upload steps of `rates`, in ms. */
export async function probeRun(
  probe: ProbeLauncher,
  file: string,
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<Phase[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...probe.args, file],
    // The CLI's bin.js silences the SDK's Node-version warning the same way.
    { ...options, env: { ...options.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
  );
  const steps = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
  return Object.entries(steps).map(([label, ms]) => ({ label, ms }));
}
