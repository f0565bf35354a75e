/**
 * The EC2 worker's user-data script, run for real with bash (no power-off, no Node install) against a local
 * HTTP server that serves the worker bundle and records the PUT result bodies.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  buildUserData,
  powerOffMinutes,
  shellQuote,
  type UserDataInput,
} from '../../../../lib/fanout/ec2/user-data.ts';
import { bundleWorkerSource } from '../../../../lib/fanout/ec2/worker-bundle.ts';

/** The worker's source; the server hands out its bundle (the worker and the runner), as S3 would. */
const WORKER_SOURCE = `
export async function run(task) {
  if (task && task.fail) throw new RangeError('chunk ' + task.n + ' is cursed');
  if (task === null) return { got: null };
  if (task.hang) await new Promise(() => setInterval(() => {}, 1000));
  return { square: task.n * task.n, echo: task.text };
}
`;

interface Put {
  /** The request target exactly as received: path and query, byte for byte. */
  url: string;
  contentType: string | undefined;
  body: string;
}

let WORKER: Buffer;
let server: Server;
let base: string;
let dir: string;
let puts: Put[] = [];
let gets: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cp-user-data-'));
  WORKER = await bundleWorkerSource(WORKER_SOURCE);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      if (req.method === 'GET') {
        gets.push(url);
        if (url.startsWith('/worker.mjs')) {
          res.writeHead(200, { 'content-type': 'text/javascript' }).end(WORKER);
        } else {
          res.writeHead(403).end('SignatureDoesNotMatch');
        }
      } else if (req.method === 'PUT') {
        puts.push({ url, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end();
      } else {
        res.writeHead(405).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  puts = [];
  gets = [];
});

function sh(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', args, { env: { ...process.env, TMPDIR: dir, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

let scripts = 0;
async function runScript(
  input: Omit<UserDataInput, 'powerOff' | 'installNode' | 'deadlineMs'> & { deadlineMs?: number },
) {
  const file = join(dir, `user-data-${scripts++}.sh`);
  await writeFile(
    file,
    buildUserData({ deadlineMs: 30_000, ...input, powerOff: false, installNode: false, nodeMajor: 20 }),
  );
  return sh([file]);
}

/** The instance's clock around each task (lib/fanout/ec2/runner.ts), for the run's timeline. */
const instanceClock = { startedAt: expect.any(Number), endedAt: expect.any(Number) };

describe('ec2 user data', () => {
  it('is valid bash, with the power-off trap and the Amazon Linux 2023 install path', async () => {
    const script = buildUserData({
      workerUrl: `${base}/worker.mjs`,
      tasks: [{ resultUrl: `${base}/r/0.json`, task: { n: 1 } }],
      deadlineMs: 60_000,
    });
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('set -euo pipefail');
    expect(script).toContain('POWER_OFF=1');
    expect(script).toContain('trap finish EXIT');
    expect(script).toContain('shutdown -h now');
    expect(script).toContain('INSTALL_NODE=1');
    expect(script).toContain('NODE_MAJOR=22');
    expect(script).toContain('dnf install -y "nodejs$NODE_MAJOR"');
    expect(script).toContain('curl -fsS --globoff --connect-timeout 10');
    const file = join(dir, 'syntax.sh');
    await writeFile(file, script);
    expect((await sh(['-n', file])).code).toBe(0);
    expect(
      buildUserData({
        workerUrl: `${base}/w`,
        tasks: [{ resultUrl: `${base}/r`, task: 1 }],
        deadlineMs: 1000,
        powerOff: false,
        installNode: false,
      }),
    ).toContain('POWER_OFF=0');
  });

  it('bounds itself: power-off scheduled at boot for the sum of its bounds, each task under timeout, each transfer capped', () => {
    const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ resultUrl: `${base}/r/${i}`, task: i }));
    const script = buildUserData({ workerUrl: `${base}/w`, tasks: tasks(1), deadlineMs: 600_000 });
    // install 300 + download 4 x 60 + 7 + slack 60 + one task (deadline 600 + kill grace 5 + upload 4 x 30 + 7) = 1339 s.
    expect(script).toContain('POWER_OFF_MINUTES=23\n');
    expect(script).toContain('shutdown -h "+$POWER_OFF_MINUTES"');
    // Scheduled before anything that could hang: the Node install and the download come after it.
    expect(script.indexOf('shutdown -h "+$POWER_OFF_MINUTES"')).toBeLessThan(script.indexOf('dnf install'));
    expect(script.indexOf('shutdown -h "+$POWER_OFF_MINUTES"')).toBeLessThan(
      script.indexOf('\ndownload "$WORKER_URL"'),
    );
    expect(script).toContain('TASK_DEADLINE_SECONDS=600\n');
    expect(script).toContain('KILL_AFTER_SECONDS=5\n');
    expect(script).toContain(
      'timeout --kill-after="$KILL_AFTER_SECONDS" "$TASK_DEADLINE_SECONDS" "$NODE" "$WORK_DIR/worker.mjs"',
    );
    expect(script).toContain('timeout --kill-after=5 300 dnf install -y');
    expect(script).toContain(
      'timeout 247 curl -fsS --globoff --connect-timeout 10 --max-time 60 --retry 3 -o "$2" "$1"',
    );
    expect(script).toContain('timeout 127 curl -fsS --globoff --connect-timeout 10 --max-time 30 --retry 3 -X PUT');
    // Every transfer, whatever the tool, has a bound.
    const transfers = script
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#') && /\b(curl|wget) -|fetch\(u/.test(line));
    expect(transfers).toHaveLength(6);
    for (const line of transfers) expect(line).toMatch(/^\s*(?:if|elif|else) .*timeout (?:247|127) /);
    for (const line of transfers.filter((l) => l.includes('curl -')))
      expect(line).toMatch(/--connect-timeout 10 --max-time (?:60|30) --retry 3/);
    // Sub-second deadlines (tests) keep their decimals; packed instances add each task's share.
    expect(buildUserData({ workerUrl: `${base}/w`, tasks: tasks(1), deadlineMs: 1500 })).toContain(
      'TASK_DEADLINE_SECONDS=1.5\n',
    );
    expect(buildUserData({ workerUrl: `${base}/w`, tasks: tasks(3), deadlineMs: 600_000 })).toContain(
      'POWER_OFF_MINUTES=47\n',
    );
    expect(powerOffMinutes(600_000, 1)).toBe(23);
    expect(powerOffMinutes(2000, 1)).toBe(13);
    expect(() => powerOffMinutes(1000, 0)).toThrow(/taskCount/);
  });

  it('schedules the power-off before it downloads anything and powers off at the end (shutdown stubbed in PATH)', async () => {
    const bin = join(dir, 'stub-bin');
    await mkdir(bin, { recursive: true });
    const calls = join(dir, 'shutdown-calls.txt');
    await writeFile(join(bin, 'shutdown'), `#!/bin/bash\necho "shutdown $*" >> ${shellQuote(calls)}\n`);
    await chmod(join(bin, 'shutdown'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    // This machine has a real shutdown: make sure the script would find the stub, never it.
    expect((await sh(['-c', 'command -v shutdown'], env)).stdout.trim()).toBe(join(bin, 'shutdown'));
    const file = join(dir, 'power-off.sh');
    await writeFile(
      file,
      buildUserData({
        workerUrl: `${base}/worker.mjs`,
        tasks: [{ resultUrl: `${base}/r/0`, task: { n: 2 } }],
        deadlineMs: 2000,
        installNode: false,
        nodeMajor: 20,
      }),
    );
    const { code, stderr } = await sh([file], env);
    expect(code, stderr).toBe(0);
    expect(await readFile(calls, 'utf8')).toBe('shutdown -h +13\nshutdown -h now\n');
    expect(stderr.indexOf('power-off scheduled in 13 minutes')).toBeLessThan(
      stderr.indexOf('downloading the worker bundle'),
    );
    expect(puts.map((p) => JSON.parse(p.body) as unknown)).toEqual([
      { ok: true, value: { square: 4 }, ms: expect.any(Number), ...instanceClock },
    ]);
  });

  it('stops a task at its deadline and reports WorkerTimedOut, then runs the next task', async () => {
    const started = Date.now();
    const { code, stderr } = await runScript({
      workerUrl: `${base}/worker.mjs`,
      deadlineMs: 700,
      tasks: [
        { resultUrl: `${base}/r/0`, task: { n: 1, hang: true } },
        { resultUrl: `${base}/r/1`, task: { n: 3 } },
      ],
    });
    expect(code, stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stderr).toContain('task 0: stopped at its deadline of 0.7 s');
    expect(puts.map((p) => JSON.parse(p.body) as unknown)).toEqual([
      {
        ok: false,
        error: {
          type: 'WorkerTimedOut',
          message: 'the worker ran past its deadline of 0.7 s on the instance and was stopped',
        },
      },
      { ok: true, value: { square: 9 }, ms: expect.any(Number), ...instanceClock },
    ]);
  });

  it('runs every task and PUTs each result to its own URL', async () => {
    const tasks = [0, 1, 2].map((n) => ({
      resultUrl: `${base}/runs/r1/${n}.json?X-Amz-Signature=abc${n}`,
      task: { n, text: `t${n}` },
    }));
    const { code, stderr } = await runScript({ workerUrl: `${base}/worker.mjs?X-Amz-Signature=w`, tasks });
    expect(code, stderr).toBe(0);
    expect(gets).toEqual(['/worker.mjs?X-Amz-Signature=w']);
    expect(puts.map((p) => p.url)).toEqual(tasks.map((t) => t.resultUrl.slice(base.length)));
    for (const [n, put] of puts.entries()) {
      expect(put.contentType).toBe('application/json');
      const result = JSON.parse(put.body) as { ok: boolean; value: unknown; ms: number };
      expect(result).toMatchObject({ ok: true, value: { square: n * n, echo: `t${n}` } });
      expect(typeof result.ms).toBe('number');
    }
  });

  it('reports a task that throws as ok:false with its type and message, and still runs the others', async () => {
    const { code, stderr } = await runScript({
      workerUrl: `${base}/worker.mjs`,
      tasks: [
        { resultUrl: `${base}/r/0`, task: { n: 7, fail: true } },
        { resultUrl: `${base}/r/1`, task: undefined },
      ],
    });
    expect(code, stderr).toBe(0);
    expect(puts.map((p) => JSON.parse(p.body) as unknown)).toEqual([
      {
        ok: false,
        error: { type: 'RangeError', message: 'chunk 7 is cursed' },
        ms: expect.any(Number),
        ...instanceClock,
      },
      { ok: true, value: { got: null }, ms: expect.any(Number), ...instanceClock },
    ]);
  });

  it("uses URLs and task text with & ' $ ` [] and spaces verbatim", async () => {
    const nasty = `a&b='c'&d=$HOME&e=\`id\`&f=$(id)&g=[1]{2}&h=%20x&i=x y`;
    const text = `it's $HOME & \`id\` $(id) "q" \\ \nCLOUD_PARALLEL_TASK_JSON\n'`;
    const resultUrl = `${base}/r/0.json?${nasty}`;
    const { code, stderr } = await runScript({
      workerUrl: `${base}/worker.mjs?${nasty}`,
      tasks: [{ resultUrl, task: { n: 3, text } }],
    });
    expect(code, stderr).toBe(0);
    // Everything verbatim, except the raw space, which no HTTP request line can carry: it goes out as %20.
    const sent = nasty.replace('x y', 'x%20y');
    expect(gets).toEqual([`/worker.mjs?${sent}`]);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.url).toBe(`/r/0.json?${sent}`);
    expect(JSON.parse(puts[0]?.body ?? '')).toMatchObject({ ok: true, value: { square: 9, echo: text } });
  });

  it('fails without PUTting anything when the worker cannot be downloaded', async () => {
    const { code, stderr } = await runScript({
      workerUrl: `${base}/expired.mjs`,
      tasks: [{ resultUrl: `${base}/r/0`, task: { n: 1 } }],
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('finished with status'); // the EXIT trap ran: with powerOff it would shut down here
    expect(puts).toEqual([]);
  });

  it('rejects input it cannot put in a script safely', () => {
    const ok = { workerUrl: `${base}/w`, tasks: [{ resultUrl: `${base}/r`, task: 1 }], deadlineMs: 1000 };
    expect(() => buildUserData({ ...ok, workerUrl: 'file:///etc/passwd' })).toThrow(/http/);
    expect(() => buildUserData({ ...ok, workerUrl: `${base}/w\nrm -rf /` })).toThrow(/line breaks/);
    expect(() => buildUserData({ ...ok, tasks: [] })).toThrow(/non-empty/);
    expect(() => buildUserData({ ...ok, tasks: [{ resultUrl: `${base}/r`, task: 1n }] })).toThrow(
      /task 0 cannot be sent as JSON/,
    );
    expect(() => buildUserData({ ...ok, nodeMajor: 1.5 })).toThrow(/nodeMajor/);
    for (const deadlineMs of [0, -1, Number.NaN, Infinity, 86_400_001])
      expect(() => buildUserData({ ...ok, deadlineMs })).toThrow(/deadlineMs/);
    expect(() => buildUserData({ ...ok, deadlineMs: undefined as unknown as number })).toThrow(/deadlineMs/);
  });

  it('quotes shell words exactly', async () => {
    const value = `it's $HOME & \`id\` "x"`;
    const { stdout } = await sh(['-c', `printf %s ${shellQuote(value)}`]);
    expect(stdout).toBe(value);
  });
});
