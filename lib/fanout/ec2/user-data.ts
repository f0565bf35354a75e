/**
 * The user-data script of an EC2 fan-out worker: a bash script that cloud-init runs once as root when the
 * instance boots. It needs no SSH and no credentials — everything it touches is a presigned S3 URL:
 *
 *   1. make sure a recent enough Node.js is there (on Amazon Linux 2023: `dnf install -y nodejs22`);
 *   2. download the worker bundle (an ESM `.mjs` exporting `run(task)`) with the presigned GET URL;
 *   3. for each task: start the bundle on it in its own `node` process — the runner bundled in it
 *      (./runner.ts) writes the worker envelope (../envelope.ts), `{"ok":true,"value":…,"ms":…}` or
 *      `{"ok":false,"error":{"type","message"},"ms":…}` — and PUT that file to the task's presigned URL;
 *   4. power off (an EXIT trap, so it also happens when a step fails). With the instance's shutdown behaviour
 *      set to `terminate`, powering off ends the instance and its bill.
 *
 * The instance ends itself even when nobody is left to terminate it (the fan-out Lambda or the CLI died): every
 * step has a bound ({@link USER_DATA_LIMITS}) — the Node install and each transfer run under `timeout`, each curl
 * attempt has `--connect-timeout`/`--max-time`, each task runs under `timeout --kill-after` at the chunk deadline —
 * and, first thing at boot, the script schedules `shutdown -h +N` for the sum of those bounds
 * ({@link powerOffMinutes}), so even a step that hangs in a way no bound foresaw cannot outlive it.
 *
 * Quoting. Nothing from the input is ever interpolated into shell code: URLs become single-quoted shell words
 * ({@link shellQuote}), and task JSON goes into quoted here-documents, whose bodies bash leaves untouched.
 * `JSON.stringify` output is a single line (newlines in strings are escaped), so it can never be mistaken for
 * the here-document's terminator line. URLs are passed to curl verbatim (`--globoff` keeps curl from reading
 * `[]{}` as globs): a presigned signature covers the query string, so one changed byte voids it. The one
 * exception: a raw space or non-ASCII character, which no HTTP request can carry, is percent-encoded.
 *
 * User data is limited to 16 KB before base64 ({@link MAX_USER_DATA_BYTES}); each presigned URL takes about
 * 1–1.5 KB of it, so big task payloads belong in S3, not in the task.
 */

export interface UserDataInput {
  /** Presigned GET of the worker bundle: an ESM `.mjs` file built by ./worker-bundle.ts (the worker and its runner). */
  workerUrl: string;
  /** One or several chunks for this instance, run one after the other. */
  tasks: { resultUrl: string /* presigned PUT */; task: unknown }[];
  /**
   * Each task's deadline: its worker process is stopped (SIGTERM, SIGKILL {@link USER_DATA_LIMITS}.killAfterSeconds
   * later) when it runs longer, and reported as a `WorkerTimedOut` failure. Also sizes the scheduled power-off.
   */
  deadlineMs: number;
  /** Oldest Node.js major version the worker accepts, default 22. */
  nodeMajor?: number;
  /**
   * Default true: when `node` is missing or older than `nodeMajor`, install `nodejs<major>` with dnf
   * (Amazon Linux 2023's namespaced packages). False: fail if no suitable node is found.
   */
  installNode?: boolean;
  /**
   * Default true: `shutdown -h +N` at boot ({@link powerOffMinutes}) and `shutdown -h now` when the script ends,
   * whatever the outcome. False (running the script by hand or in a test, outside an instance): never call
   * `shutdown`. The local EC2 endpoint runs the script unchanged: it puts a `shutdown` of its own first in the
   * instance's PATH, which ends that instance, never the machine.
   */
  powerOff?: boolean;
}

/** EC2's limit on user data, counted before base64 encoding. */
export const MAX_USER_DATA_BYTES = 16 * 1024;

/**
 * The bound of every step of the script, in seconds. Transfers are sized by what they carry: the worker bundle
 * (a few MB: 60 s an attempt is under 100 KB/s) and a result (a JSON document of kilobytes: 30 s). curl retries a
 * timed-out or 5xx attempt `retries` times with its default backoff (1, 2, 4 s), so a transfer is also wrapped in
 * `timeout` for its worst case, {@link transferBoundSeconds}; wget and Node's fetch (the fallbacks) get the same
 * wrapper.
 */
export const USER_DATA_LIMITS = {
  /** TCP/TLS connect, per attempt. */
  connectSeconds: 10,
  /** One attempt of the worker-bundle download. */
  downloadSeconds: 60,
  /** One attempt of a result upload. */
  uploadSeconds: 30,
  /** Extra attempts of a transfer that timed out or got a transient error. */
  retries: 3,
  /** `dnf install nodejs22` on Amazon Linux 2023 (about 30 s when it works). */
  installSeconds: 300,
  /** Between the deadline's SIGTERM and the SIGKILL of a worker that does not exit. */
  killAfterSeconds: 5,
  /** The script's own work: starting Node, writing files, the power-off itself. */
  slackSeconds: 60,
} as const;

/** The worst case of one transfer: every attempt takes its whole `--max-time`, plus curl's backoff between them. */
export function transferBoundSeconds(attemptSeconds: number): number {
  const { retries } = USER_DATA_LIMITS;
  return (retries + 1) * attemptSeconds + (2 ** retries - 1);
}

/**
 * When the instance powers itself off, in whole minutes after the user data starts (`shutdown -h +N` counts
 * minutes; rounded up): the sum of the bounds of everything the script may do — install Node, download the
 * worker, and for each task its deadline, the SIGKILL grace and the result upload — plus slack. An orphaned
 * instance (nobody left to terminate it) lives at most this long after boot; one whose worker hangs ends sooner,
 * once `timeout` stops the worker and its failure is uploaded.
 */
export function powerOffMinutes(deadlineMs: number, taskCount: number): number {
  checkDeadline(deadlineMs);
  if (!Number.isInteger(taskCount) || taskCount < 1)
    throw new TypeError(`powerOffMinutes: taskCount must be a whole number from 1 (got ${taskCount})`);
  const l = USER_DATA_LIMITS;
  const perTask = deadlineMs / 1000 + l.killAfterSeconds + transferBoundSeconds(l.uploadSeconds);
  const seconds = l.installSeconds + transferBoundSeconds(l.downloadSeconds) + taskCount * perTask + l.slackSeconds;
  return Math.ceil(seconds / 60);
}

/** The longest deadline a chunk may have: a day (the EC2_DEADLINE_SECONDS limit). */
const MAX_DEADLINE_MS = 86_400_000;

function checkDeadline(deadlineMs: unknown): number {
  if (
    typeof deadlineMs !== 'number' ||
    !Number.isFinite(deadlineMs) ||
    deadlineMs < 1 ||
    deadlineMs > MAX_DEADLINE_MS
  ) {
    throw new TypeError(
      `buildUserData: deadlineMs must be a number of milliseconds from 1 to ${MAX_DEADLINE_MS} (got ${String(deadlineMs)})`,
    );
  }
  return deadlineMs;
}

/** Seconds as `timeout` reads them: whole or with up to three decimals, never in exponent notation. */
function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}

/** A single-quoted shell word whose value is exactly `value`: `'` becomes `'\''`, nothing else is special. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const HEREDOC_END = 'CLOUD_PARALLEL_TASK_JSON';

function checkUrl(name: string, url: unknown): string {
  if (typeof url !== 'string' || url === '') throw new TypeError(`buildUserData: ${name} must be a non-empty URL`);
  // curl takes one line; a newline or NUL could only come from a bug upstream.
  if (/[\r\n\0]/.test(url)) throw new TypeError(`buildUserData: ${name} must not contain line breaks or NUL`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`buildUserData: ${name} is not a valid URL: ${url.slice(0, 100)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new TypeError(`buildUserData: ${name} must be an http(s) URL`);
  // The original text, not parsed.href: normalizing could break the signature. Only what no HTTP request line
  // can carry raw (spaces, non-ASCII) is percent-encoded, as every HTTP client does and as SigV4's canonical
  // form expects; curl would refuse such a URL.
  return url.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
}

function taskJson(task: unknown, index: number): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(task);
  } catch (error) {
    throw new TypeError(`buildUserData: task ${index} cannot be sent as JSON: ${(error as Error).message}`);
  }
  // JSON.stringify(undefined) is undefined; the worker then gets null, as a Lambda worker would.
  return json ?? 'null';
}

/** How the script is set up: the settings it runs with and the bounds it keeps, as shell variables. */
function settingsSection(
  workerUrl: string,
  taskCount: number,
  nodeMajor: number,
  installNode: boolean,
  powerOff: boolean,
  deadlineMs: number,
): string {
  const limits = USER_DATA_LIMITS;
  return `#!/bin/bash
# cloud-parallel EC2 fan-out worker (generated by lib/fanout/ec2/user-data.ts): fetch the worker bundle,
# run ${taskCount} task(s), PUT each result to its presigned URL, power off.
set -euo pipefail

POWER_OFF=${powerOff ? 1 : 0}
INSTALL_NODE=${installNode ? 1 : 0}
NODE_MAJOR=${nodeMajor}
WORKER_URL=${shellQuote(workerUrl)}
# Bounds (lib/fanout/ec2/user-data.ts USER_DATA_LIMITS): each task's deadline, and the power-off that ends this
# instance even if nobody terminates it: install + download + ${taskCount} x (deadline + kill grace + upload) + slack.
TASK_DEADLINE_SECONDS=${seconds(deadlineMs)}
KILL_AFTER_SECONDS=${limits.killAfterSeconds}
POWER_OFF_MINUTES=${powerOffMinutes(deadlineMs, taskCount)}`;
}

/** The power-off on exit, the boot-time backstop, and the working directory. */
function powerOffSection(): string {
  return `log() { echo "cloud-parallel: $*" >&2; }

# Power off however the script ends (success, failed step, signal): the instance's shutdown behaviour is
# 'terminate', so this also ends the bill. POWER_OFF=0 (the script run by hand, outside an instance) just exits.
finish() {
  local status=$?
  log "finished with status $status"
  if [ "$POWER_OFF" = 1 ]; then shutdown -h now || poweroff || true; fi
  exit "$status"
}
trap finish EXIT

# The backstop, before anything that could hang: whatever happens below, the machine goes down in
# POWER_OFF_MINUTES. A script that cannot schedule it does not start work that could bill forever.
if [ "$POWER_OFF" = 1 ]; then
  shutdown -h "+$POWER_OFF_MINUTES" || { log "could not schedule the power-off in $POWER_OFF_MINUTES minutes"; exit 1; }
  log "power-off scheduled in $POWER_OFF_MINUTES minutes"
fi
command -v timeout >/dev/null 2>&1 || { log "coreutils timeout is needed to bound the worker"; exit 1; }

WORK_DIR=$(mktemp -d "\${TMPDIR:-/tmp}/cloud-parallel.XXXXXX")
cd "$WORK_DIR"`;
}

/** A recent enough Node.js: the one there, or one installed with dnf under a bound. */
function nodeSection(): string {
  const limits = USER_DATA_LIMITS;
  return `# --- Node.js: use \`node\` if it is recent enough, else install it (Amazon Linux 2023 names the packages
# nodejs20, nodejs22, ...; their binaries may be namespaced as node-22, so look for that too).
node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
NODE=node
if [ "$(node_major node)" -lt "$NODE_MAJOR" ]; then
  if [ "$INSTALL_NODE" = 1 ] && command -v dnf >/dev/null 2>&1; then
    log "installing nodejs$NODE_MAJOR with dnf"
    timeout --kill-after=${limits.killAfterSeconds} ${limits.installSeconds} dnf install -y "nodejs$NODE_MAJOR" >&2
  fi
  if [ "$(node_major node)" -lt "$NODE_MAJOR" ] && [ "$(node_major "node-$NODE_MAJOR")" -ge "$NODE_MAJOR" ]; then NODE="node-$NODE_MAJOR"; fi
  if [ "$(node_major "$NODE")" -lt "$NODE_MAJOR" ]; then log "no Node.js >= $NODE_MAJOR available"; exit 1; fi
fi`;
}

/** download/upload: curl, else wget, else Node's fetch, each attempt and each whole transfer bounded. */
function transferSection(): string {
  const limits = USER_DATA_LIMITS;
  const downloadBound = transferBoundSeconds(limits.downloadSeconds);
  const uploadBound = transferBoundSeconds(limits.uploadSeconds);
  const curlBounds = (attemptSeconds: number): string =>
    `--connect-timeout ${limits.connectSeconds} --max-time ${attemptSeconds} --retry ${limits.retries}`;
  return `# --- HTTP: curl, else wget, else node's fetch. URLs are used verbatim (curl --globoff: no [] {} globbing).
# Each attempt is bounded (connect and total time) and the whole transfer, retries included, runs under timeout.
download() { # url file
  if command -v curl >/dev/null 2>&1; then timeout ${downloadBound} curl -fsS --globoff ${curlBounds(limits.downloadSeconds)} -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then timeout ${downloadBound} wget -q --tries=${limits.retries + 1} --timeout=${limits.downloadSeconds} -O "$2" "$1"
  else timeout ${downloadBound} "$NODE" -e 'const [u, f] = process.argv.slice(1); fetch(u, { signal: AbortSignal.timeout(${downloadBound * 1000}) }).then(async (r) => { if (!r.ok) throw new Error("HTTP " + r.status); require("fs").writeFileSync(f, Buffer.from(await r.arrayBuffer())); }).catch((e) => { console.error(e.message); process.exit(1); });' "$1" "$2"
  fi
}
upload() { # file url
  if command -v curl >/dev/null 2>&1; then timeout ${uploadBound} curl -fsS --globoff ${curlBounds(limits.uploadSeconds)} -X PUT --data-binary @"$1" -H 'Content-Type: application/json' "$2"
  elif command -v wget >/dev/null 2>&1; then timeout ${uploadBound} wget -q --tries=${limits.retries + 1} --timeout=${limits.uploadSeconds} -O /dev/null --method=PUT --body-file="$1" --header='Content-Type: application/json' "$2"
  else timeout ${uploadBound} "$NODE" -e 'const [f, u] = process.argv.slice(1); fetch(u, { method: "PUT", body: require("fs").readFileSync(f), headers: { "Content-Type": "application/json" }, signal: AbortSignal.timeout(${uploadBound * 1000}) }).then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); }).catch((e) => { console.error(e.message); process.exit(1); });' "$1" "$2"
  fi
}`;
}

/** run_task: one task under its deadline, a result written for a timeout or a crash, then its upload. */
function runTaskSection(): string {
  return `# Runs task <index> (from task-<index>.json) under its deadline: the bundle's runner (lib/fanout/ec2/runner.ts)
# writes result-<index>.json. PUTs the result; a failed upload is
# remembered, not fatal, so the other tasks still report.
FAILED_UPLOADS=0
run_task() { # index result-url
  log "task $1: running"
  local status=0 started=$SECONDS
  timeout --kill-after="$KILL_AFTER_SECONDS" "$TASK_DEADLINE_SECONDS" "$NODE" "$WORK_DIR/worker.mjs" "task-$1.json" "result-$1.json" || status=$?
  # timeout answers 124 when it stopped the worker with SIGTERM, 137 (SIGKILL) when the worker ignored that.
  if [ "$status" = 124 ] || { [ "$status" = 137 ] && [ $((SECONDS - started)) -ge "\${TASK_DEADLINE_SECONDS%.*}" ]; }; then
    log "task $1: stopped at its deadline of $TASK_DEADLINE_SECONDS s"
    printf '{"ok":false,"error":{"type":"WorkerTimedOut","message":"the worker ran past its deadline of %s s on the instance and was stopped"}}' "$TASK_DEADLINE_SECONDS" > "result-$1.json"
  # The runner reports what the task threw; a process that died under it (process.exit, out of memory, a
  # signal) wrote nothing, so say that instead of leaving the caller to wait for the deadline.
  elif [ ! -s "result-$1.json" ]; then
    log "task $1: the worker process exited with status $status without a result"
    printf '{"ok":false,"error":{"type":"WorkerCrashed","message":"the worker process exited with status %s before reporting a result"}}' "$status" > "result-$1.json"
  fi
  if upload "result-$1.json" "$2"; then log "task $1: result uploaded"; else log "task $1: upload failed"; FAILED_UPLOADS=$((FAILED_UPLOADS + 1)); fi
}`;
}

/** Each task's JSON in a quoted here-document, then its run_task line. */
function taskSections(tasks: UserDataInput['tasks']): string[] {
  return tasks.map(({ resultUrl, task }, index) =>
    [
      `# --- task ${index}`,
      `cat > task-${index}.json <<'${HEREDOC_END}'`,
      taskJson(task, index),
      HEREDOC_END,
      `run_task ${index} ${shellQuote(checkUrl(`tasks[${index}].resultUrl`, resultUrl))}`,
    ].join('\n'),
  );
}

export function buildUserData(input: UserDataInput): string {
  const workerUrl = checkUrl('workerUrl', input.workerUrl);
  if (!Array.isArray(input.tasks) || input.tasks.length === 0)
    throw new TypeError('buildUserData: tasks must be a non-empty array');
  const nodeMajor = input.nodeMajor ?? 22;
  if (!Number.isInteger(nodeMajor) || nodeMajor < 18 || nodeMajor > 99)
    throw new TypeError(`buildUserData: nodeMajor must be a whole number from 18 to 99 (got ${nodeMajor})`);
  const installNode = input.installNode ?? true;
  const powerOff = input.powerOff ?? true;
  const deadlineMs = checkDeadline(input.deadlineMs);
  const taskBlocks = taskSections(input.tasks);

  // The sections in the order the script runs them, a blank line between each.
  const sections = [
    settingsSection(workerUrl, input.tasks.length, nodeMajor, installNode, powerOff, deadlineMs),
    powerOffSection(),
    nodeSection(),
    transferSection(),
    `log "downloading the worker bundle"
download "$WORKER_URL" worker.mjs`,
    runTaskSection(),
    taskBlocks.join('\n\n'),
    `if [ "$FAILED_UPLOADS" -gt 0 ]; then log "$FAILED_UPLOADS result upload(s) failed"; exit 1; fi`,
  ];
  return `${sections.join('\n\n')}\n`;
}
