import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  stackEnvironment,
  startStack,
  stopStack,
  type StackProcess,
  type StackState,
} from '../../local-stack/stack.ts';
import { PROJECT_ROOT, serverlessBin } from '../../local-stack/service-config.ts';

export interface TestStack {
  state: StackState;
  stateDir: string;
  /** What `afterAll` stopped. */
  stopped: StackProcess[];
}

/**
 * Starts a real local stack for one test file, on ports of its own (so a developer's running stack and
 * other test files are left alone), points the SDK at it, and stops it after the file's tests. Give ports below
 * 32768: Linux hands out 32768–60999 as client sockets' local ports, so a fixed port there can be taken by any
 * outgoing connection of a concurrently running test (it happened: EADDRINUSE on a CI run).
 */
export function useLocalStack(ports: {
  s3: number;
  lambda: number;
  ec2: number;
  mongo: number;
  api: number;
  http: number;
  /** The web dashboard's port; 0 (the default) lets the stack pick a free one. */
  dashboard?: number;
}): TestStack {
  const stack = { stopped: [] } as unknown as TestStack;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    stack.stateDir = mkdtempSync(path.join(os.tmpdir(), 'cp-stack-'));
    process.env.CLOUD_PARALLEL_HTTP_PORT = String(ports.http);
    ({ state: stack.state } = await startStack({
      s3Port: ports.s3,
      lambdaPort: ports.lambda,
      ec2Port: ports.ec2,
      mongoPort: ports.mongo,
      apiPort: ports.api,
      dashboardPort: ports.dashboard ?? 0,
      stateDir: stack.stateDir,
    }));
    Object.assign(process.env, stackEnvironment(stack.state));
  }, 180_000);
  afterAll(async () => {
    stack.stopped = await stopStack({ stateDir: stack.stateDir });
    process.env = savedEnv;
    rmSync(stack.stateDir, { recursive: true, force: true });
    // `stop` must end exactly what `start` began: every process, each still running until then.
    expect(stack.stopped.map((p) => p.name).sort()).toEqual([
      'api',
      'dashboard',
      'ec2',
      'lambda',
      'lambda-front',
      'mongo',
      's3',
    ]);
  });
  return stack;
}

/** Runs `sls invoke local -f <fn> -p <eventFile>` in the project, as a developer would; resolves with its stdout. */
export async function slsInvokeLocal(fn: string, eventFile: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [serverlessBin(), 'invoke', 'local', '-f', fn, '-p', eventFile],
    {
      cwd: PROJECT_ROOT,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return stdout;
}

/** Runs the `cloud-parallel` CLI (cli/bin.js) with `stack`'s state folder; rejects, as execFile does, on a non-zero exit. */
export function runCli(stack: TestStack, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [path.join(PROJECT_ROOT, 'cli/bin.js'), ...args], {
    env: { ...process.env, CLOUD_PARALLEL_STATE_DIR: stack.stateDir },
  });
}
