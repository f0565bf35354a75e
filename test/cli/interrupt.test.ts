/**
 * Ctrl-C (SIGINT) and SIGTERM for the real binary (issue 12): the command stops what it started — the stack, the
 * EC2 instances it launched — and exits 130, and `local start` leaves nothing behind wherever it is interrupted:
 * no process of the stack, no half state.json, ports free for the next start.
 *
 * Before: the CLI had no handler, so Node died on the signal at once (exit by signal, no code); the stack's
 * processes, each in a process group of its own, were left running, and `local start` wrote state.json only once
 * everything answered, so an interrupted start left orphans that `local stop` could not find.
 *
 * A `local start` SIGKILLed half-way (no handler can run) is the case the incremental state.json is for: `local stop`
 * finds every process it had spawned.
 *
 * Processes are found the way stack.ts recognises its own: `CLOUD_PARALLEL_STACK_DIR=<dir>` in /proc/<pid>/environ
 * (instances also by their working directory under the state dir). Ports are fixed, below the ephemeral range
 * (test/support/stack.ts says why), and used by no other file. Two full starts of the stack in all (~15 s each).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import { stopStack } from '../../local-stack/stack.ts';

const CLI = path.join(PROJECT_ROOT, 'cli/bin.js');
const PORTS = { S3: 25569, LAMBDA: 25302, EC2: 25570, MONGO: 25017, API: 25575, HTTP: 25300, DASHBOARD: 25580 };

let stateDir: string;
let env: NodeJS.ProcessEnv;

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** performance.now() when the test sent its signal, and when the CLI exited. */
  signalledAt?: number;
  exitedAt?: number;
}

const running: Running[] = [];

function cli(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const handle: Running = { child, stdout: () => stdout, stderr: () => stderr, exited: undefined as never };
  handle.exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      handle.exitedAt = performance.now();
      resolve({ code, signal });
    }),
  );
  running.push(handle);
  return handle;
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  cli?: Running,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (cli && cli.child.exitCode !== null)
      throw new Error(`the CLI exited (${cli.child.exitCode}) before ${what}:\n${cli.stderr()}`);
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${cli ? `; CLI stderr:\n${cli.stderr()}` : ''}`);
    await sleep(50);
  }
}

/**
 * Live processes of this file's stack: the stack dir in their environment (the servers and their children), or an
 * instance of its EC2 endpoint (one `<state>/ec2/<instance-id>/` each) in theirs — instances get a clean
 * environment and work in a temporary folder, so only their id ties them to this stack.
 */
function stackProcesses(): { pid: number; instance: boolean; cmdline: string }[] {
  const ec2Dir = path.join(stateDir, 'ec2');
  const instanceIds = new Set(
    existsSync(ec2Dir) ? readdirSync(ec2Dir).map((id) => `CLOUD_PARALLEL_INSTANCE_ID=${id}`) : [],
  );
  const found: { pid: number; instance: boolean; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      const instance = environ.some((variable) => instanceIds.has(variable));
      if (instance || environ.includes(`CLOUD_PARALLEL_STACK_DIR=${stateDir}`)) {
        found.push({
          pid: Number(entry),
          instance,
          cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 160),
        });
      }
    } catch {
      // exited while we looked, or a zombie (no environ): not alive for our purpose
    }
  }
  return found;
}

function interrupt(cli: Running, signal: NodeJS.Signals): void {
  cli.signalledAt = performance.now();
  cli.child.kill(signal);
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

const stateFile = () => path.join(stateDir, 'state.json');
const readState = (): { starting?: boolean; processes: { name: string; pid: number }[] } | undefined => {
  try {
    return JSON.parse(readFileSync(stateFile(), 'utf8')) as {
      starting?: boolean;
      processes: { name: string; pid: number }[];
    };
  } catch {
    return undefined;
  }
};

/** After an interruption: exit 130, the one stderr line, and nothing of the stack left — processes, state, ports. */
async function expectInterruptedCleanly(cli: Running, signal: NodeJS.Signals, recorded: number[]): Promise<void> {
  const { code, signal: killedBy } = await cli.exited;
  expect({ code, killedBy }, cli.stderr()).toEqual({ code: 130, killedBy: null });
  // The figure the issue's note reports: how long the clean-up takes.
  console.log(
    `${signal} → exit 130 in ${Math.round(cli.exitedAt! - cli.signalledAt!)} ms (recorded pids: ${recorded.length})`,
  );
  expect(cli.stderr()).toMatch(
    new RegExp(`^cloud-parallel: interrupted by ${signal}; stopping the local stack this command started`, 'm'),
  );
  expect(cli.stderr()).not.toMatch(/unexpected error|^\s+at /m);
  expect(stackProcesses()).toEqual([]);
  for (const pid of recorded) expect(() => process.kill(pid, 0), `pid ${pid} from state.json`).toThrow();
  expect(existsSync(stateFile())).toBe(false);
  for (const port of Object.values(PORTS)) expect(await portAccepts(port), `port ${port}`).toBe(false);
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'cp-interrupt-'));
  env = {
    ...process.env,
    CLOUD_PARALLEL_STATE_DIR: stateDir,
    ...Object.fromEntries(
      Object.entries(PORTS).map(([service, port]) => [`CLOUD_PARALLEL_${service}_PORT`, String(port)]),
    ),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  for (const port of Object.values(PORTS)) {
    if (await portAccepts(port))
      throw new Error(`port ${port} is in use: this file needs ${Object.values(PORTS).join(', ')} free`);
  }
});

afterEach(async () => {
  // A failed test must not leave its CLI (or, through it, a stack) behind for the next one.
  for (const { child, exited } of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
});

afterAll(async () => {
  // What a failed test left: its stack stopped as `local stop` would (the EC2 endpoint terminates its instances),
  // then anything still alive killed.
  await stopStack({ stateDir });
  const leftovers = stackProcesses();
  for (const { pid } of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  rmSync(stateDir, { recursive: true, force: true });
  expect(leftovers).toEqual([]);
});

describe('local start, interrupted', () => {
  // The servers that need no service config are spawned before it is read (local-stack/stack.ts).
  it('while reading serverless.yml (the first servers spawned): exit 130, every process stopped', async () => {
    const start = cli(['local', 'start']);
    await waitFor('the progress line', () => /reading serverless\.yml/.test(start.stderr()), 30_000, start);
    const recorded = readState()?.processes.map((p) => p.pid) ?? [];
    interrupt(start, 'SIGINT');
    await expectInterruptedCleanly(start, 'SIGINT', recorded);
  });

  it.each<[string, NodeJS.Signals, () => Promise<boolean>]>([
    [
      'as soon as state.json records the first process',
      'SIGINT',
      async () => (readState()?.processes.length ?? 0) >= 1,
    ],
    [
      'in the middle: S3 and MongoDB answer, the rest does not yet',
      'SIGINT',
      async () => (await portAccepts(PORTS.S3)) && (await portAccepts(PORTS.MONGO)),
    ],
    // The Lambda front answers at once; serverless-offline, behind it on a private port, takes seconds more.
    [
      'while waiting for serverless-offline (all else up), by SIGTERM',
      'SIGTERM',
      async () => readState()?.starting === true && (await portAccepts(PORTS.EC2)) && (await portAccepts(PORTS.LAMBDA)),
    ],
  ])(
    '%s: exit 130, every process it spawned stopped, no state.json',
    { timeout: 120_000 },
    async (_label, signal, reached) => {
      const start = cli(['local', 'start']);
      await waitFor('the point to interrupt at', reached, 60_000, start);
      const state = readState();
      // Still starting, and the processes spawned so far on record: what `local stop` would find if this CLI died.
      expect(state?.starting).toBe(true);
      const names = state!.processes.map((p) => p.name);
      // serverless-offline first: the slowest to boot, it needs no service config (local-stack/stack.ts).
      expect(names[0]).toBe('lambda');
      expect(new Set(names).size).toBe(names.length);
      const recorded = state!.processes.map((p) => p.pid);
      expect(stackProcesses().length).toBeGreaterThanOrEqual(names.length);
      interrupt(start, signal);
      await expectInterruptedCleanly(start, signal, recorded);
      // What the user runs next finds nothing to stop.
      const stop = cli(['local', 'stop']);
      expect((await stop.exited).code, stop.stderr()).toBe(0);
      expect(stop.stdout()).toBe('Local stack is not running.\n');
    },
  );

  it('killed (SIGKILL: no handler runs) once state.json records every process: local stop finds and stops them all', {
    timeout: 120_000,
  }, async () => {
    const start = cli(['local', 'start']);
    const state = await waitFor(
      'all seven processes on record',
      () => (readState()?.processes.length ?? 0) >= 7 && readState(),
      60_000,
      start,
    );
    start.child.kill('SIGKILL');
    await start.exited;
    expect(stackProcesses().length).toBeGreaterThanOrEqual(7); // orphans now: only state.json knows them
    const status = cli(['local', 'status']);
    expect((await status.exited).code).toBe(1); // a half-started stack is not one to use
    const stop = cli(['local', 'stop']);
    expect((await stop.exited).code, stop.stderr()).toBe(0);
    for (const { name, pid } of state.processes) expect(stop.stdout()).toContain(`${name} (pid ${pid})`);
    expect(stackProcesses()).toEqual([]);
    expect(existsSync(stateFile())).toBe(false);
  });
});

describe('after the interruptions', () => {
  it('local start succeeds; Ctrl-C of an EC2 run on it terminates its instances, of a rates upload aborts the multipart upload, and leaves the stack up; local stop stops all', async () => {
    const start = cli(['local', 'start']);
    expect((await start.exited).code, start.stderr()).toBe(0);
    expect(start.stdout()).toMatch(/^Local stack started:/);

    // 4 chunks of 10^11 numbers: minutes of work per instance, so only the interrupt can end them this soon.
    const primes = cli(['primes', '--start', '0', '--end', '4e11', '--chunks', '4', '--backend', 'ec2']);
    await waitFor(
      'running instances',
      () => /instances: \d+ pending, [1-9]\d* running/.test(primes.stderr()),
      60_000,
      primes,
    );
    const instances = () => stackProcesses().filter((p) => p.instance);
    await waitFor('instance processes', () => instances().length > 0, 10_000);
    interrupt(primes, 'SIGINT');
    const { code } = await primes.exited;
    expect(code, primes.stderr()).toBe(130);
    console.log(`SIGINT → instances terminated, exit 130 in ${Math.round(primes.exitedAt! - primes.signalledAt!)} ms`);
    expect(primes.stderr()).toMatch(
      /^cloud-parallel: interrupted by SIGINT; terminating the EC2 instances this command launched \(/m,
    );
    expect(primes.stdout()).toBe(''); // no partial result printed as if it were one
    // The instances are gone; the stack, which this command did not start, is still up.
    expect(instances()).toEqual([]);
    const status = cli(['local', 'status']);
    expect((await status.exited).code, status.stderr()).toBe(0);

    // rates, interrupted once its multipart upload has parts on the server (s3rver keeps an open upload as a folder
    // under the bucket's ._S3rver_uploads/): the upload is aborted, not left holding its parts.
    const csv = path.join(stateDir, 'big.csv');
    writeFileSync(csv, Buffer.alloc(200 * 1024 * 1024, 'cancer,population\n1,2\n'));
    const { service } = JSON.parse(readFileSync(stateFile(), 'utf8')) as {
      service: { environment: { DATA_BUCKET: string } };
    };
    const uploads = path.join(stateDir, 's3', service.environment.DATA_BUCKET, '._S3rver_uploads');
    const openUploads = () => (existsSync(uploads) ? readdirSync(uploads) : []);
    const rates = cli(['rates', csv]);
    await waitFor(
      'a part on the server',
      () => openUploads().some((id) => readdirSync(path.join(uploads, id)).some((f) => /^\d+$/.test(f))),
      60_000,
      rates,
    );
    interrupt(rates, 'SIGINT');
    const ratesExit = await rates.exited;
    expect(ratesExit.code, rates.stderr()).toBe(130);
    expect(rates.stderr()).toMatch(/^cloud-parallel: interrupted by SIGINT; aborting the upload of .*big\.csv \(/m);
    expect(openUploads()).toEqual([]);
    console.log(
      `SIGINT → multipart upload aborted, exit 130 in ${Math.round(rates.exitedAt! - rates.signalledAt!)} ms`,
    );
    const stillUp = cli(['local', 'status']);
    expect((await stillUp.exited).code, stillUp.stderr()).toBe(0);

    const stop = cli(['local', 'stop']);
    expect((await stop.exited).code, stop.stderr()).toBe(0);
    for (const name of ['s3', 'lambda', 'ec2', 'mongo', 'api', 'dashboard'])
      expect(stop.stdout()).toMatch(new RegExp(`^Stopped .*\\b${name} \\(pid \\d+\\)`));
    expect(stackProcesses()).toEqual([]);
  }, 180_000);

  it('a command that started the stack (primes on Lambda), interrupted mid-run: the stack is stopped, exit 130', async () => {
    const primes = cli(['primes', '--start', '0', '--end', '4e11', '--chunks', '4', '--backend', 'lambda']);
    await waitFor(
      'the fan-out on Lambda',
      () => /counting primes in .* on Lambda/.test(primes.stderr()),
      120_000,
      primes,
    );
    const recorded = readState()!.processes.map((p) => p.pid);
    expect(recorded).toHaveLength(7);
    await sleep(500); // the invocations are in flight
    interrupt(primes, 'SIGINT');
    await expectInterruptedCleanly(primes, 'SIGINT', recorded);
    expect(primes.stdout()).toBe('');
  }, 180_000);
});

describe('the interrupt handler (cli/interrupt.ts) in a process of its own', () => {
  /** A process that registers three clean-ups — the middle one fails, the last `hang`s or not — then waits. */
  function withCleanups(hang: boolean): Running {
    const script = `
      import { installInterruptHandlers, interruptSignal, onInterrupt } from ${JSON.stringify(path.join(PROJECT_ROOT, 'cli/interrupt.ts'))};
      installInterruptHandlers();
      interruptSignal.addEventListener('abort', () => console.log('aborted: ' + interruptSignal.reason.message));
      onInterrupt('stopping the stack', () => console.log('stack stopped'));
      onInterrupt('aborting the upload', async () => { throw new Error('S3 said no'); });
      const release = onInterrupt('a clean-up no longer needed', () => console.log('MUST NOT RUN'));
      release();
      onInterrupt('terminating the instances', () => ${hang ? 'new Promise(() => setInterval(() => undefined, 1000))' : "console.log('instances terminated')"});
      console.log('ready');
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const handle: Running = { child, stdout: () => stdout, stderr: () => stderr, exited: undefined as never };
    handle.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    running.push(handle);
    return handle;
  }

  it('one line naming the clean-ups, the signal aborted, clean-ups newest first (a failure reported, the rest still run), exit 130', async () => {
    const proc = withCleanups(false);
    await waitFor('ready', () => proc.stdout().includes('ready'), 20_000, proc);
    proc.child.kill('SIGINT');
    expect(await proc.exited).toEqual({ code: 130, signal: null });
    expect(proc.stderr()).toBe(
      'cloud-parallel: interrupted by SIGINT; terminating the instances, then aborting the upload, then stopping the stack (Ctrl-C again to exit at once)\n' +
        'cloud-parallel: aborting the upload failed: S3 said no\n',
    );
    expect(proc.stdout()).toBe('ready\naborted: interrupted by SIGINT\ninstances terminated\nstack stopped\n');
  });

  it('a second signal exits 130 at once while a clean-up hangs', async () => {
    const proc = withCleanups(true);
    await waitFor('ready', () => proc.stdout().includes('ready'), 20_000, proc);
    proc.child.kill('SIGTERM');
    await waitFor('the interrupt line', () => proc.stderr().includes('interrupted by SIGTERM'), 5_000);
    await sleep(300);
    expect(proc.child.exitCode).toBe(null); // still waiting for the hung clean-up
    proc.child.kill('SIGINT');
    expect(await proc.exited).toEqual({ code: 130, signal: null });
    expect(proc.stderr()).toMatch(/SIGINT again: exiting without finishing the clean-up\n$/);
    expect(proc.stdout()).not.toMatch(/stack stopped|MUST NOT RUN/);
  });
});
