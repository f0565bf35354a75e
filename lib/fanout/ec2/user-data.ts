/**
 * The user-data script of an EC2 fan-out worker: a bash script that cloud-init runs once as root when the
 * instance boots. It needs no SSH and no credentials — everything it touches is a presigned S3 URL:
 *
 *   1. make sure a recent enough Node.js is there (on Amazon Linux 2023: `dnf install -y nodejs22`);
 *   2. download the worker bundle (an ESM `.mjs` exporting `run(task)`) with the presigned GET URL;
 *   3. for each task: run it in its own `node` process through a small runner, which writes
 *      `{"ok":true,"value":…,"ms":…}` or `{"ok":false,"error":{"type","message"},"ms":…}`, and PUT that file
 *      to the task's presigned URL;
 *   4. power off (an EXIT trap, so it also happens when a step fails). With the instance's shutdown behaviour
 *      set to `terminate`, powering off ends the instance and its bill.
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
  /** Presigned GET of the worker bundle: an ESM `.mjs` file exporting `run(task)`. */
  workerUrl: string;
  /** One or several chunks for this instance, run one after the other. */
  tasks: { resultUrl: string /* presigned PUT */; task: unknown }[];
  /** Oldest Node.js major version the worker accepts, default 22. */
  nodeMajor?: number;
  /**
   * Default true: when `node` is missing or older than `nodeMajor`, install `nodejs<major>` with dnf
   * (Amazon Linux 2023's namespaced packages). False: fail if no suitable node is found.
   */
  installNode?: boolean;
  /**
   * Default true: `shutdown -h now` when the script ends, whatever the outcome. False (local runs): just exit.
   * A local EC2 emulator that runs the script unchanged sets `CLOUD_PARALLEL_NO_POWEROFF=1` in its environment
   * to get the same effect.
   */
  powerOff?: boolean;
}

/** EC2's limit on user data, counted before base64 encoding. */
export const MAX_USER_DATA_BYTES = 16 * 1024;

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
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new TypeError(`buildUserData: ${name} must be an http(s) URL`);
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

/**
 * The runner: imports the worker, runs one task, writes the result file. Static text — the worker path, the
 * task file and the output file come in as arguments. It exits 0 when the task threw (that is a result to
 * report); only a runner that cannot write its output fails the script.
 */
const RUNNER = `import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [workerPath, taskPath, outPath] = process.argv.slice(2);
const started = performance.now();
const failure = (error) => ({
  ok: false,
  error: {
    type: (error && typeof error.name === 'string' && error.name) || typeof error,
    message: error && typeof error.message === 'string' ? error.message : String(error),
  },
});
let result;
try {
  const worker = await import(pathToFileURL(workerPath).href);
  if (typeof worker.run !== 'function') throw new TypeError('the worker bundle does not export a run(task) function');
  const value = await worker.run(JSON.parse(readFileSync(taskPath, 'utf8')));
  result = { ok: true, value: value === undefined ? null : value };
} catch (error) {
  result = failure(error);
}
result.ms = Math.round((performance.now() - started) * 1000) / 1000;
let text;
try {
  text = JSON.stringify(result);
} catch (error) {
  // A value JSON cannot hold (a BigInt, a cycle) is the worker's failure, reported like a throw.
  text = JSON.stringify({ ...failure(error), ms: result.ms });
}
writeFileSync(outPath, text);
`;

export function buildUserData(input: UserDataInput): string {
  const workerUrl = checkUrl('workerUrl', input.workerUrl);
  if (!Array.isArray(input.tasks) || input.tasks.length === 0) throw new TypeError('buildUserData: tasks must be a non-empty array');
  const nodeMajor = input.nodeMajor ?? 22;
  if (!Number.isInteger(nodeMajor) || nodeMajor < 18 || nodeMajor > 99) throw new TypeError(`buildUserData: nodeMajor must be a whole number from 18 to 99 (got ${nodeMajor})`);
  const installNode = input.installNode ?? true;
  const powerOff = input.powerOff ?? true;

  const taskBlocks = input.tasks.map(({ resultUrl, task }, index) =>
    [
      `# --- task ${index}`,
      `cat > task-${index}.json <<'${HEREDOC_END}'`,
      taskJson(task, index),
      HEREDOC_END,
      `run_task ${index} ${shellQuote(checkUrl(`tasks[${index}].resultUrl`, resultUrl))}`,
    ].join('\n'),
  );

  return `#!/bin/bash
# cloud-parallel EC2 fan-out worker (generated by lib/fanout/ec2/user-data.ts): fetch the worker bundle,
# run ${input.tasks.length} task(s), PUT each result to its presigned URL, power off.
set -euo pipefail

POWER_OFF=${powerOff ? 1 : 0}
INSTALL_NODE=${installNode ? 1 : 0}
NODE_MAJOR=${nodeMajor}
WORKER_URL=${shellQuote(workerUrl)}

log() { echo "cloud-parallel: $*" >&2; }

# Power off however the script ends (success, failed step, signal): the instance's shutdown behaviour is
# 'terminate', so this also ends the bill. Local runs (POWER_OFF=0, or CLOUD_PARALLEL_NO_POWEROFF=1 in the
# environment, as a local EC2 emulator running this script on a developer's machine sets) just exit.
finish() {
  local status=$?
  log "finished with status $status"
  if [ "$POWER_OFF" = 1 ] && [ "\${CLOUD_PARALLEL_NO_POWEROFF:-0}" != 1 ]; then shutdown -h now || poweroff || true; fi
  exit "$status"
}
trap finish EXIT

WORK_DIR=$(mktemp -d "\${TMPDIR:-/tmp}/cloud-parallel.XXXXXX")
cd "$WORK_DIR"

# --- Node.js: use \`node\` if it is recent enough, else install it (Amazon Linux 2023 names the packages
# nodejs20, nodejs22, ...; their binaries may be namespaced as node-22, so look for that too).
node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
NODE=node
if [ "$(node_major node)" -lt "$NODE_MAJOR" ]; then
  if [ "$INSTALL_NODE" = 1 ] && command -v dnf >/dev/null 2>&1; then
    log "installing nodejs$NODE_MAJOR with dnf"
    dnf install -y "nodejs$NODE_MAJOR" >&2
  fi
  if [ "$(node_major node)" -lt "$NODE_MAJOR" ] && [ "$(node_major "node-$NODE_MAJOR")" -ge "$NODE_MAJOR" ]; then NODE="node-$NODE_MAJOR"; fi
  if [ "$(node_major "$NODE")" -lt "$NODE_MAJOR" ]; then log "no Node.js >= $NODE_MAJOR available"; exit 1; fi
fi

# --- HTTP: curl, else wget, else node's fetch. URLs are used verbatim (curl --globoff: no [] {} globbing).
download() { # url file
  if command -v curl >/dev/null 2>&1; then curl -fsS --globoff --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then wget -q --tries=3 -O "$2" "$1"
  else "$NODE" -e 'const [u, f] = process.argv.slice(1); fetch(u).then(async (r) => { if (!r.ok) throw new Error("HTTP " + r.status); require("fs").writeFileSync(f, Buffer.from(await r.arrayBuffer())); }).catch((e) => { console.error(e.message); process.exit(1); });' "$1" "$2"
  fi
}
upload() { # file url
  if command -v curl >/dev/null 2>&1; then curl -fsS --globoff --retry 3 -X PUT --data-binary @"$1" -H 'Content-Type: application/json' "$2"
  elif command -v wget >/dev/null 2>&1; then wget -q --tries=3 -O /dev/null --method=PUT --body-file="$1" --header='Content-Type: application/json' "$2"
  else "$NODE" -e 'const [f, u] = process.argv.slice(1); fetch(u, { method: "PUT", body: require("fs").readFileSync(f), headers: { "Content-Type": "application/json" } }).then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); }).catch((e) => { console.error(e.message); process.exit(1); });' "$1" "$2"
  fi
}

log "downloading the worker bundle"
download "$WORKER_URL" worker.mjs

cat > runner.mjs <<'CLOUD_PARALLEL_RUNNER'
${RUNNER}CLOUD_PARALLEL_RUNNER

# Runs task <index> (from task-<index>.json) and PUTs its result; a failed upload is remembered, not fatal,
# so the other tasks still report.
FAILED_UPLOADS=0
run_task() { # index result-url
  log "task $1: running"
  local status=0
  "$NODE" runner.mjs "$WORK_DIR/worker.mjs" "task-$1.json" "result-$1.json" || status=$?
  # The runner reports what the task threw; a process that died under it (process.exit, out of memory, a
  # signal) wrote nothing, so say that instead of leaving the caller to wait for the deadline.
  if [ ! -s "result-$1.json" ]; then
    log "task $1: the worker process exited with status $status without a result"
    printf '{"ok":false,"error":{"type":"WorkerCrashed","message":"the worker process exited with status %s before reporting a result"}}' "$status" > "result-$1.json"
  fi
  if upload "result-$1.json" "$2"; then log "task $1: result uploaded"; else log "task $1: upload failed"; FAILED_UPLOADS=$((FAILED_UPLOADS + 1)); fi
}

${taskBlocks.join('\n\n')}

if [ "$FAILED_UPLOADS" -gt 0 ]; then log "$FAILED_UPLOADS result upload(s) failed"; exit 1; fi
`;
}
