/**
 * EC2 instances end themselves when nobody is left to terminate them. A controller (the same code path as the
 * fan-out Lambda and the CLI) runs in a child process and is SIGKILLed once its instances run; the workers hang.
 * Every instance must still end by itself — through the user data's `timeout` around the worker and its final
 * power-off, or at the latest through the `shutdown -h +N` it scheduled at boot — with all of its processes gone.
 * The local EC2 endpoint emulates power-off (shims in the instance's PATH, never the real shutdown) and runs a
 * minute in `minuteMs`, so the scheduled power-off is seen in seconds.
 *
 * Also: instances get a clean environment (a HOME of their own, none of the developer's AWS_* variables), and the
 * power-off shims do what shutdown does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUserData } from '../../../../lib/fanout/ec2/user-data.ts';
import { bundleWorkerSource } from '../../../../lib/fanout/ec2/worker-bundle.ts';
import {
  LOCAL_IMAGE_ID,
  startEc2Server,
  type LocalInstance,
  type RunningEc2Server,
} from '../../../../local-stack/ec2/server.ts';
import { spawnS3ServerProcess, type S3ServerProcess } from '../../../../local-stack/s3/child.ts';
import { testEc2Client } from '../../../support/clients.ts';
import { TEST_CREDENTIALS } from '../../../support/signing.ts';
import { useTempDir } from '../../../support/temp-dir.ts';

const credentials = TEST_CREDENTIALS;
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The chunk deadline of these runs. */
const DEADLINE_MS = 2000;
/** powerOffMinutes(2000, 1), checked in user-data.test.ts; a literal here so this test also runs against old code. */
const POWER_OFF_MINUTES = 13;
/** The instance-state transition period of the servers below. */
const PENDING_MS = 50;
/** The server's SIGTERM → SIGKILL grace when an instance powers off. */
const KILL_GRACE_MS = 2000;

const dir = useTempDir('cp-ec2-orphans-');

/** Processes (not zombies) of session `sid`: what is left of an instance. */
function sessionAlive(sid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const [state, , , session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(session) === sid && state !== 'Z';
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * Watches the server's instances every 20 ms: when each was first seen (launched, give or take a tick) and when
 * it was first seen terminated. `lifetime` takes one last look first.
 */
function watchLifetimes(server: RunningEc2Server): {
  lifetime: (id: string) => number;
  ended: (id: string) => number;
  stop: () => void;
} {
  const firstSeen = new Map<string, number>();
  const terminatedAt = new Map<string, number>();
  const tick = (): void => {
    const now = Date.now();
    for (const instance of server.instances()) {
      if (!firstSeen.has(instance.instanceId)) firstSeen.set(instance.instanceId, now);
      if (instance.state.name === 'terminated' && !terminatedAt.has(instance.instanceId))
        terminatedAt.set(instance.instanceId, now);
    }
  };
  tick();
  const timer = setInterval(tick, 20);
  const ended = (id: string): number => {
    tick();
    const at = terminatedAt.get(id);
    if (at === undefined) throw new Error(`${id} has not ended`);
    return at;
  };
  return { lifetime: (id) => ended(id) - firstSeen.get(id)!, ended, stop: () => clearInterval(timer) };
}

async function waitUntil(what: string | (() => string), predicate: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(20);
  }
}

/** A local EC2 server in its own folder under the test's, with a simulated minute of `minuteMs`. */
function startLocalEc2(folder: string, minuteMs: number): Promise<RunningEc2Server> {
  return startEc2Server({
    port: 0,
    directory: path.join(dir(), folder),
    pendingMs: PENDING_MS,
    minuteMs,
    silent: true,
    credentials,
  });
}

describe('an orphaned run: the controller is SIGKILLed while its workers hang', () => {
  const bucket = 'orphans-bucket';
  let s3Server: S3ServerProcess;
  let ec2Server: RunningEc2Server;
  let controller: ChildProcess | undefined;
  // A simulated minute of 1 s: the scheduled power-off (13 "minutes") falls due 13 s after boot, later than the
  // worker timeout (2 s, +5 s for a worker that ignores SIGTERM), so this run shows the timeout path ending them.
  const minuteMs = 1000;

  beforeAll(async () => {
    s3Server = await spawnS3ServerProcess({ directory: path.join(dir(), 's3'), buckets: [bucket], credentials });
    ec2Server = await startLocalEc2('ec2', minuteMs);
  }, 30_000);
  afterAll(async () => {
    controller?.kill('SIGKILL');
    await ec2Server?.close();
    await s3Server?.close();
  });

  it('every instance ends by itself within the deadline + margin, with every process of it gone', async () => {
    const bundlePath = path.join(dir(), 'hanging-worker.mjs');
    // Chunk 0 waits forever; chunk 1 also ignores SIGTERM; chunk 2 spins the CPU with a child process of its own.
    writeFileSync(
      bundlePath,
      await bundleWorkerSource(`import { spawn } from 'node:child_process';
       export async function run(task) {
         if (task.start === 1000) process.on('SIGTERM', () => {});
         if (task.start === 2000) { spawn('sleep', ['1000'], { stdio: 'ignore' }); for (;;) {} }
         await new Promise(() => setInterval(() => {}, 1000));
       }`),
    );
    const runId = `orphans-${Date.now()}`;
    const args = {
      s3Endpoint: s3Server.endpoint,
      ec2Endpoint: ec2Server.endpoint,
      bucket,
      bundlePath,
      runId,
      deadlineMs: DEADLINE_MS,
      chunks: 3,
    };
    const tsx = createRequire(import.meta.url).resolve('tsx');
    let output = '';
    controller = spawn(
      process.execPath,
      [
        '--import',
        tsx,
        fileURLToPath(new URL('../../../support/ec2-controller.ts', import.meta.url)),
        JSON.stringify(args),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    controller.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    controller.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const controllerExited = new Promise<void>((resolve) => controller?.once('exit', () => resolve()));
    const watch = watchLifetimes(ec2Server);
    try {
      // Kill the controller once all three workers run: mid-run, before its own deadline could terminate them.
      const workersRunning = () => {
        const instances = ec2Server.instances();
        return (
          instances.length === 3 &&
          instances.every(
            (i) => i.state.name === 'running' && /task 0: running/.test(readFileSync(i.consoleLogPath, 'utf8')),
          )
        );
      };
      await waitUntil(() => `three running workers (controller output: ${output})`, workersRunning, 30_000);
      controller.kill('SIGKILL');
      await controllerExited;
      const killedAt = Date.now();
      const instances = ec2Server.instances();
      const pids = instances.map((i) => i.pid!);
      expect(pids.every((pid) => pid > 0)).toBe(true);
      expect(instances.every((i) => i.state.name === 'running')).toBe(true);

      // The bound: the power-off scheduled at boot, the server's kill grace and transition, and a second of slack
      // for process start-up on a busy machine.
      const boundMs = POWER_OFF_MINUTES * minuteMs + KILL_GRACE_MS + PENDING_MS + 1000;
      await waitUntil(
        'every instance to end by itself',
        () => ec2Server.instances().every((i) => i.state.name === 'terminated'),
        boundMs + 5000,
      );
      const ended: LocalInstance[] = ec2Server.instances();
      for (const instance of ended) {
        const lifetime = watch.lifetime(instance.instanceId);
        expect(lifetime, `${instance.instanceId} lived ${lifetime} ms`).toBeLessThanOrEqual(boundMs);
        // Instance-initiated: nobody terminated it (the controller was dead).
        expect(instance.stateReason?.code).toBe('Client.InstanceInitiatedShutdown');
        expect(instance.shutdownBehavior).toBe('terminate');
        expect(readFileSync(instance.consoleLogPath, 'utf8')).toMatch(/power-off of i-[0-9a-f]+ in 13 minute\(s\)/);
      }
      for (const pid of pids) expect(sessionAlive(pid)).toEqual([]);

      // Each ended through its worker's timeout, reporting WorkerTimedOut where the dead controller would have looked.
      const s3 = new S3Client({ region: 'us-east-1', credentials, endpoint: s3Server.endpoint, forcePathStyle: true });
      try {
        for (const index of [0, 1, 2]) {
          const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `runs/${runId}/${index}.json` }));
          expect(JSON.parse(await object.Body!.transformToString())).toMatchObject({
            ok: false,
            error: { type: 'WorkerTimedOut' },
          });
        }
      } finally {
        s3.destroy();
      }
      const lifetimes = ended.map((i) => ({
        launchToTerminated: watch.lifetime(i.instanceId),
        killToTerminated: watch.ended(i.instanceId) - killedAt,
      }));
      console.log(`orphaned instances (deadline ${DEADLINE_MS} ms, bound ${boundMs} ms): ${JSON.stringify(lifetimes)}`);
    } finally {
      watch.stop();
    }
  }, 90_000);
});

describe('the power-off emulation and the instance environment', () => {
  // A simulated minute of 100 ms: shutdown -h +13 falls due 1.3 s after it is called.
  const minuteMs = 100;
  let ec2Server: RunningEc2Server;
  let ec2: EC2Client;
  let stall: Server;
  let stallBase: string;
  const stalled: string[] = [];

  beforeAll(async () => {
    ec2Server = await startLocalEc2('ec2-power', minuteMs);
    ec2 = testEc2Client(ec2Server.endpoint);
    // An S3 that accepts a request and never answers: a download no deadline of the worker covers.
    stall = createServer((req) => {
      stalled.push(req.url ?? '');
    });
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    stallBase = `http://127.0.0.1:${(stall.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    ec2?.destroy();
    await ec2Server?.close();
    stall?.closeAllConnections();
    await new Promise<void>((resolve) => stall?.close(() => resolve()));
  });

  const launch = async (script: string, behaviour: 'terminate' | 'stop' = 'terminate'): Promise<LocalInstance> => {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: LOCAL_IMAGE_ID,
        MinCount: 1,
        MaxCount: 1,
        UserData: b64(script),
        InstanceInitiatedShutdownBehavior: behaviour,
      }),
    );
    const id = out.Instances?.[0]?.InstanceId ?? '';
    const found = () => ec2Server.instances().find((i) => i.instanceId === id)!;
    await waitUntil(`${id} running`, () => found().state.name === 'running' && found().pid !== undefined, 10_000);
    return found();
  };
  const current = (id: string): LocalInstance => ec2Server.instances().find((i) => i.instanceId === id)!;

  it('a step that hangs past every timeout (a stalled download) is ended by the power-off the user data scheduled at boot', async () => {
    const script = buildUserData({
      workerUrl: `${stallBase}/worker.mjs`,
      tasks: [{ resultUrl: `${stallBase}/result.json`, task: { n: 1 } }],
      deadlineMs: DEADLINE_MS,
      installNode: false,
      nodeMajor: Number(process.versions.node.split('.')[0]),
    });
    const instance = await launch(script);
    const started = Date.now();
    await waitUntil('the instance to end', () => current(instance.instanceId).state.name === 'terminated', 20_000);
    const lived = Date.now() - started;
    const ended = current(instance.instanceId);
    expect(stalled).toContain('/worker.mjs'); // it was stuck in the download, which curl alone would allow for 247 s
    expect(ended.stateReason?.code).toBe('Client.InstanceInitiatedShutdown');
    // Not before the schedule (13 simulated minutes), and not much after it.
    expect(lived).toBeGreaterThanOrEqual(POWER_OFF_MINUTES * minuteMs - 200);
    expect(lived).toBeLessThanOrEqual(POWER_OFF_MINUTES * minuteMs + KILL_GRACE_MS + PENDING_MS + 1000);
    const log = readFileSync(ended.consoleLogPath, 'utf8');
    expect(log).toContain('power-off scheduled in 13 minutes');
    expect(log).not.toContain('result uploaded');
    expect(sessionAlive(instance.pid!)).toEqual([]);
    console.log(`stalled instance ended ${lived} ms after boot (scheduled: ${POWER_OFF_MINUTES} x ${minuteMs} ms)`);
  }, 30_000);

  it('gives the instance a HOME and TMPDIR of its own and none of the developer’s AWS_* variables', async () => {
    const saved = { key: process.env.AWS_SECRET_ACCESS_KEY, profile: process.env.AWS_PROFILE };
    process.env.AWS_SECRET_ACCESS_KEY = 'developer-secret-must-not-leak';
    process.env.AWS_PROFILE = 'developer-profile';
    let instance: LocalInstance;
    try {
      instance = await launch(
        '#!/bin/bash\necho "HOME=$HOME"\necho "TMPDIR=$TMPDIR"\nenv\ntouch ~/written-by-instance\nsleep 0.2\n',
      );
    } finally {
      for (const [name, value] of [
        ['AWS_SECRET_ACCESS_KEY', saved.key],
        ['AWS_PROFILE', saved.profile],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    await waitUntil('the script to finish', () => current(instance.instanceId).state.name === 'terminated', 10_000);
    const log = readFileSync(instance.consoleLogPath, 'utf8');
    expect(log).toContain(`HOME=${path.join(instance.directory, 'home')}\n`);
    expect(log).toContain(`TMPDIR=${path.join(instance.directory, 'tmp')}\n`);
    expect(log).not.toContain(`HOME=${os.homedir()}\n`);
    expect(log).not.toMatch(/^AWS_/m);
    expect(log).not.toContain('developer-secret-must-not-leak');
    expect(existsSync(path.join(instance.directory, 'home', 'written-by-instance'))).toBe(true);
    // PATH is kept (node, curl, timeout are found), behind the instance's own shims.
    expect(log).toMatch(
      new RegExp(`^PATH=${path.join(instance.directory, '.ec2', 'bin').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:`, 'm'),
    );
  });

  it('shutdown +N schedules, -c cancels, -r is refused; poweroff ends the instance now; stop behaviour ends in stopped', async () => {
    const instance = await launch(
      '#!/bin/bash\nshutdown -h +2\nsleep 0.1\nshutdown -c\nshutdown -r now || echo "reboot refused: $?"\nsleep 0.6\necho still-here\npoweroff\nsleep 100\n',
      'stop',
    );
    await waitUntil('a stop', () => current(instance.instanceId).state.name === 'stopped', 10_000);
    const log = readFileSync(instance.consoleLogPath, 'utf8');
    // The +2 (200 ms) schedule was cancelled: the script reached its own poweroff after 700 ms.
    expect(log).toContain('scheduled power-off cancelled');
    expect(log).toContain('reboot refused: 1');
    expect(log).toContain('still-here\n');
    expect(current(instance.instanceId).stateReason?.code).toBe('Client.InstanceInitiatedShutdown');
    // Killed by the power-off (the `sleep 100` after it never finished), not exited by itself.
    expect(current(instance.instanceId).exitSignal).toBe('SIGTERM');
    expect(sessionAlive(instance.pid!)).toEqual([]);
  });
});
