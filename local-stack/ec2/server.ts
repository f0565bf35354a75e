/**
 * The EC2-compatible server of the local stack: a small HTTP endpoint speaking the EC2 Query API (version
 * 2016-11-15) for the actions the project uses, so the real `@aws-sdk/client-ec2` client and the AWS CLI
 * work against it unchanged (`endpoint` / `AWS_ENDPOINT_URL_EC2` / `--endpoint-url`).
 *
 * Actions: RunInstances, DescribeInstances, TerminateInstances, DescribeImages, DescribeInstanceStatus.
 * Requests are form-encoded POSTs (`Action=…&Version=…&InstanceId.1=…`); responses are XML in the
 * `http://ec2.amazonaws.com/doc/2016-11-15/` namespace with the element names the SDK's deserializer reads;
 * errors are `<Response><Errors><Error>…</Error></Errors><RequestID>…</RequestID></Response>` with HTTP 400.
 * Only requests signed (SigV4) with the stack's credentials are accepted, never a page's (request-guard.ts): a
 * RunInstances runs a script on the developer's machine. Mutating actions must be POSTs, as a GET is what an
 * `<img src>` sends.
 *
 * A local "instance" really runs: its user data (a shell script, base64 in the request) is written to
 * `<directory>/<instance-id>/user-data.sh` and run with `bash` in a session of its own (its "machine"), with that
 * directory as cwd and stdout/stderr appended to `console.log` there. Its environment is clean, as on a fresh
 * EC2 instance — nothing of the developer's: `HOME` is `<instance>/home` and `TMPDIR` `<instance>/tmp`, no AWS_*
 * or project variables; only `PATH`, `LANG` and `TZ` are kept (so node, curl and timeout are found), plus
 * `CLOUD_PARALLEL_INSTANCE_ID` and the server's `env` option.
 *
 * Power-off is emulated, never performed: `<instance>/.ec2/bin` comes first in the instance's PATH and holds
 * `shutdown`, `poweroff` and `halt` scripts that only write a request into `<instance>/.ec2/power-request`,
 * which the server reads. `shutdown -h now` / `poweroff` power the instance off at once, `shutdown -h +N`
 * schedules it N minutes later (`minuteMs`, test-only, shortens the minute), `shutdown -c` cancels.
 * (A script that calls the real binary by its absolute path, e.g. `/sbin/shutdown`, is not caught.)
 *
 * States follow EC2: pending (0) → running (16) once the process started; on power-off, or when the script
 * exits by itself (a simplification: a real instance keeps running after its user data), shutting-down (32) →
 * terminated (48) for shutdown behaviour `terminate`, stopping (64) → stopped (80) for `stop` (EC2's default).
 * Powering off or TerminateInstances kills every process of the instance's session (SIGTERM, SIGKILL after
 * 2 s), including process groups of its own such as `timeout` creates; on Linux, found through /proc, elsewhere
 * only the script's process group. An instance without a runnable script (no user data, or user data that is
 * not a `#!` script) idles in `running` until it is terminated. Terminated instances stay visible until the
 * server stops.
 *
 * Run as a process, it is `cli.ts`, which prints one JSON line when ready on stdout;
 * logs go to stderr. SIGTERM/SIGINT terminate every instance, then exit.
 */
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Credentials } from '../shared/request-guard.ts';
import { listenOnLoopback } from '../shared/server-process.ts';
import type { Ec2Context } from './routes/context.ts';
import { handleRequest } from './routes/dispatch.ts';
import { Fleet } from './state/fleet.ts';
import { snapshot, type LocalInstance } from './state/instance.ts';

export { escapeXml } from '../shared/xml.ts';
export { Ec2Error } from './protocol/errors.ts';
export { LOCAL_IMAGE_ID } from './protocol/ids.ts';
export { QueryParams } from './protocol/query.ts';
export type { InstanceStateName, LocalInstance } from './state/instance.ts';

export interface Ec2ServerOptions {
  port: number;
  /** The only credentials requests may be signed with (SigV4, header or presigned); see request-guard.ts. */
  credentials: Credentials;
  /** Default 127.0.0.1. */
  host?: string;
  /** Instance work directories (one per instance, with `user-data.sh` and `console.log`). */
  directory: string;
  /** Default us-east-1; instances are placed in `<region>a`. */
  region?: string;
  /** How long an instance stays `pending` (and `shutting-down`/`stopping`) before the next state. Default 200. */
  pendingMs?: number;
  /** The most instances one RunInstances may ask for (MaxCount), and the most alive at once. Default 16. */
  maxInstances?: number;
  /** Extra environment for instance processes (on top of the clean one they get). */
  env?: Record<string, string>;
  /**
   * Test-only: how many milliseconds one minute of an instance's `shutdown -h +N` lasts, so that a test can see a
   * scheduled power-off happen. Default 60000 (a real minute).
   */
  minuteMs?: number;
  /** No request log on stderr (errors are still logged). */
  silent?: boolean;
}

export interface RunningEc2Server {
  endpoint: string;
  port: number;
  /** Snapshots of every instance launched so far, in launch order (for tests). */
  instances(): LocalInstance[];
  /** Terminates every instance that is not terminated yet, waits for their processes, stops listening. */
  close(): Promise<void>;
}

export async function startEc2Server(options: Ec2ServerOptions): Promise<RunningEc2Server> {
  const host = options.host ?? '127.0.0.1';
  const minuteMs = options.minuteMs ?? 60_000;
  if (!Number.isInteger(minuteMs) || minuteMs < 1)
    throw new TypeError(`startEc2Server: minuteMs must be a whole number of milliseconds from 1 (got ${minuteMs})`);
  const directory = path.resolve(options.directory);
  mkdirSync(directory, { recursive: true });

  const fleet = new Fleet({
    pendingMs: options.pendingMs ?? 200,
    minuteMs,
    env: options.env,
    silent: options.silent ?? false,
  });
  const context: Ec2Context = {
    fleet,
    directory,
    region: options.region ?? 'us-east-1',
    maxInstances: options.maxInstances ?? 16,
  };
  const allowedHosts = new Set<string>();
  const guard = { credentials: options.credentials, allowedHosts };
  const server = http.createServer((req, res) => void handleRequest(context, guard, req, res));
  const { port, endpoint } = await listenOnLoopback(server, options.port, host, allowedHosts);
  let closed: Promise<void> | undefined;

  return {
    endpoint,
    port,
    instances: () => [...fleet.records.values()].map(snapshot),
    close: () => {
      closed ??= (async () => {
        await fleet.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closed;
    },
  };
}
