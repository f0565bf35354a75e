/**
 * The fan-out Lambda's deadline on the Lambda backend (issue 12): with a short simulated deadline (a context whose
 * remaining time is the cleanup margin plus a fraction of a second) and a real Lambda endpoint whose worker is slow
 * for some chunks, the handler must return in time with the finished chunks counted, every other chunk named in
 * failedChunks with the deadline as its reason, and no invocation left open at the endpoint.
 *
 * Before the fix the Lambda backend never saw the deadline: the reply came only when the slowest worker answered
 * (here 5 s later; in production after the function's own timeout, with nothing returned).
 */
import { spawn } from 'node:child_process';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PrimesRunResult } from '../../../lib/primes/fanout-job.ts';
import { runPrimesTask, type PrimesTask } from '../../../lib/primes/worker.ts';
import { closedPort, lambdaContext, quietObservability } from '../../support/bad-input.ts';
import { startLambdaEndpoint, type LambdaEndpoint } from '../../support/lambda-endpoint.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/** Chunks (by their start) whose worker answers at once; every other worker takes SLOW_MS. */
const FAST = new Set([0, 1000, 3000]);
const SLOW_MS = 5000;
/** How long the simulated invocation has before the handler's cleanup margin begins. */
const DEADLINE_MS = 800;

const EVENT = { start: 0, end: 8000, chunks: 8, concurrency: 3 };

let endpoint: LambdaEndpoint;
let handler: Handler;
let cleanupMarginMs: number;
let environment: Record<string, string>;

beforeAll(async () => {
  endpoint = await startLambdaEndpoint(async (payload) => {
    const task = payload as PrimesTask;
    return { payload: await runPrimesTask(task), delayMs: FAST.has(task.start) ? 0 : SLOW_MS };
  });
  const nowhere = `http://127.0.0.1:${await closedPort()}`;
  quietObservability();
  environment = {
    PRIMES_WORKER_FUNCTION: 'cloud-parallel-test-primes-worker',
    DATA_BUCKET: 'fanout-deadline-test',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_LAMBDA: endpoint.url,
    AWS_ENDPOINT_URL_EC2: nowhere,
    AWS_ENDPOINT_URL_S3: nowhere,
    AWS_ENDPOINT_URL_SSM: nowhere,
  };
  for (const [name, value] of Object.entries(environment)) vi.stubEnv(name, value);
  // The handler reads its configuration and builds its clients when the module loads.
  const module = (await import('../../../functions/primes-fanout.ts')) as {
    handler: Handler;
    CLEANUP_MARGIN_MS: number;
  };
  handler = module.handler;
  cleanupMarginMs = module.CLEANUP_MARGIN_MS;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await endpoint?.close();
});

describe('primes-fanout on the Lambda backend stops before its deadline', () => {
  it('returns the finished chunks in time, names the rest in failedChunks, and leaves no invocation open', async () => {
    const context: Context = {
      ...lambdaContext('cloud-parallel-test-primes-fanout'),
      getRemainingTimeInMillis: () => cleanupMarginMs + DEADLINE_MS,
    };
    // 8 chunks, 3 at a time: 0, 1 and 3 finish at once; 2, 4 and 5 are slow and hold every lane; 6 and 7 never start.
    const started = performance.now();
    const reply = (await handler(EVENT, context)) as PrimesRunResult;
    const elapsed = performance.now() - started;
    const stillOpen = endpoint.open;
    const closedWithin = await endpoint.settled(1000);
    console.log(
      `deadline ${DEADLINE_MS} ms: returned after ${Math.round(elapsed)} ms; ${stillOpen} invocation(s) open at return, all closed ${Math.round(closedWithin)} ms later`,
    );

    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    // Not waiting for the slow chunks is the behaviour: they answer at SLOW_MS. What comes after the deadline (aborting
    // sockets, drawing the run's timeline with vega loaded on first use, the reply) has the cleanup margin, 30 s in
    // the contract; bounding it tighter here measured the machine's load (it failed at load 8 with 1.2 s).
    expect(elapsed).toBeLessThan(SLOW_MS);

    const fast = await Promise.all([0, 1000, 3000].map((start) => runPrimesTask({ start, end: start + 1000 })));
    expect(reply.complete).toBe(false);
    expect(reply.count).toBe(fast.reduce((sum, r) => sum + r.count, 0));
    expect(reply.chunks.filter((c) => c.count !== undefined).map((c) => c.start)).toEqual([0, 1000, 3000]);

    const reason = `deadline: not finished ${cleanupMarginMs / 1000} s before the function's timeout`;
    expect(reply.failedChunks.map((c) => c.start)).toEqual([2000, 4000, 5000, 6000, 7000]);
    for (const chunk of reply.failedChunks) {
      expect(chunk.error).toMatchObject({ kind: 'aborted', type: 'AbortError' });
      expect(chunk.error?.message).toContain(reason);
    }
    // The three slow ones were invoked and abandoned; the last two were never invoked.
    expect(reply.failedChunks.map((c) => c.attempts)).toEqual([1, 1, 1, 0, 0]);
    expect(reply.failedChunks[0]?.error?.message).toMatch(/abandoned/);
    expect(reply.failedChunks[3]?.error?.message).toMatch(/not started/);
    expect((endpoint.received as PrimesTask[]).map((t) => t.start).sort((a, b) => a - b)).toEqual([
      0, 1000, 2000, 3000, 4000, 5000,
    ]);

    // The abandoned invocations' connections were closed by the client, not left to run out their 5 s.
    expect(closedWithin).toBeLessThan(200);
    expect(endpoint.open).toBe(0);
  });

  it("leaves nothing behind that keeps a process alive: the handler's process exits as soon as it has replied", async () => {
    endpoint.received.length = 0;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/support/invoke-primes-fanout.ts',
        JSON.stringify(EVENT),
        String(cleanupMarginMs + DEADLINE_MS),
      ],
      {
        cwd: new URL('../../..', import.meta.url).pathname,
        env: { ...process.env, ...environment },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    let repliedAt: number | undefined;
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString('utf8');
      if (repliedAt === undefined && stdout.endsWith('\n')) repliedAt = performance.now();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    let timer: NodeJS.Timeout | undefined;
    // Startup (tsx, the SDK) takes a few seconds on a busy machine; a process held open by a leftover never exits.
    const code = await Promise.race([
      exited,
      new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 12_000))),
    ]);
    clearTimeout(timer);
    if (code === 'still running') {
      child.kill('SIGKILL');
      await exited;
    }
    const exitedAfterMs =
      code === 'still running' || repliedAt === undefined ? Number.POSITIVE_INFINITY : performance.now() - repliedAt;
    console.log(`the handler's process exited ${Math.round(exitedAfterMs)} ms after its reply`);
    expect(code).toBe(0);
    const reply = JSON.parse(stdout) as PrimesRunResult;
    expect(reply.failedChunks.map((c) => c.start)).toEqual([2000, 4000, 5000, 6000, 7000]);
    // A timer or socket left by the run (the SDK's 960 s request timeout, the deadline timer) would hold it open.
    expect(exitedAfterMs).toBeLessThan(1000);
    await expect.poll(() => endpoint.open, { timeout: 1000 }).toBe(0);
  }, 20_000);
});
