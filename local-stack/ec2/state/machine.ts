/**
 * A local instance's "machine": its own folder (home, tmp, the power-off shims first in PATH), a clean
 * environment, and the processes of its session. Files are written when the instance is launched
 * (`prepareInstanceFiles`); nothing here touches the developer's machine beyond that folder.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What a local instance's process sees: like a fresh EC2 instance, no AWS credentials, endpoints, project
 * settings or the developer's HOME (where ~/.aws lives) — a worker that works here cannot be quietly relying on
 * the developer's environment, and user data cannot read their files through it. PATH is kept so that node,
 * curl and timeout are found, behind the instance's own `bin` with the power-off shims.
 */
export function instanceBaseEnvironment(layout: InstanceLayout): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${layout.bin}${path.delimiter}${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
    HOME: layout.home,
    TMPDIR: layout.tmp,
  };
  for (const name of ['LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Where an instance's own files live, all inside its directory (removed with it). */
export interface InstanceLayout {
  /** The power-off shims, first in PATH. */
  bin: string;
  home: string;
  tmp: string;
  /** What the shims write and the server reads: `poweroff <minutes> <nonce>` or `cancel - <nonce>`. */
  powerRequest: string;
}

function instanceLayout(instanceDir: string): InstanceLayout {
  const control = path.join(instanceDir, '.ec2');
  return {
    bin: path.join(control, 'bin'),
    home: path.join(instanceDir, 'home'),
    tmp: path.join(instanceDir, 'tmp'),
    powerRequest: path.join(control, 'power-request'),
  };
}

function quoteSh(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `shutdown`/`poweroff`/`halt` an instance finds first in its PATH. It never touches the machine it runs on:
 * it writes a request for the EC2 server (atomically: temp file + rename; a nonce makes each request new) and
 * returns, as the real command returns before the machine goes down. Options it does not know are refused, so
 * user data cannot believe something was scheduled that was not.
 */
function powerShim(requestFile: string): string {
  return `#!/bin/bash
# Local EC2 emulator (local-stack/ec2/): this instance's shutdown/poweroff/halt. It does not power off
# this machine; it asks the local EC2 server to power off THIS instance (or schedule/cancel that).
set -u
request=${quoteSh(requestFile)}
name=\${0##*/}
action=poweroff
minutes=
if [ "$name" = shutdown ]; then
  for arg in "$@"; do
    case "$arg" in
      -h|-H|-P|--halt|--poweroff|--no-wall) ;;
      -c) action=cancel ;;
      -r|--reboot) echo "shutdown: reboot is not emulated by the local EC2 server" >&2; exit 1 ;;
      -*) echo "shutdown: option $arg is not emulated by the local EC2 server" >&2; exit 1 ;;
      *)
        if [ -n "$minutes" ] || [ "$action" = cancel ]; then continue; fi # the wall message
        case "$arg" in
          now) minutes=0 ;;
          +[0-9]*) minutes=\${arg#+}
            if ! [[ "$minutes" =~ ^[0-9]{1,9}$ ]]; then echo "shutdown: bad time $arg" >&2; exit 1; fi ;;
          *) echo "shutdown: time $arg is not emulated by the local EC2 server (use now or +MINUTES)" >&2; exit 1 ;;
        esac ;;
    esac
  done
  [ -n "$minutes" ] || minutes=1 # systemd's shutdown without a time: in one minute
else
  minutes=0 # poweroff, halt: now; their options (-f, --force, -p) change nothing here
fi
[ "$action" = cancel ] && minutes=-
tmp="$request.$$.tmp"
printf '%s %s %s\n' "$action" "$minutes" "$$.$RANDOM$RANDOM" > "$tmp" && mv -f "$tmp" "$request" || exit 1
if [ "$action" = cancel ]; then echo "$name (local EC2): scheduled power-off cancelled" >&2
else echo "$name (local EC2): power-off of \${CLOUD_PARALLEL_INSTANCE_ID:-this instance} in $minutes minute(s)" >&2; fi
`;
}

/**
 * Every process of the session `sid` (Linux, through /proc): an instance's processes, including any that moved to
 * a process group of their own (`timeout` does). Empty where /proc does not exist.
 */
export function sessionMembers(sid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp session …; comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid && fields[0] !== 'Z') members.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return members;
}

/**
 * Creates an instance's folder: an empty console log, the layout with its shims, and the user data as
 * `user-data.sh`. Returns the script to run, if the user data is a `#!` script.
 */
export function prepareInstanceFiles(
  instanceDir: string,
  userData: string | undefined,
): { consoleLogPath: string; layout: InstanceLayout; scriptPath?: string } {
  mkdirSync(instanceDir, { recursive: true });
  const consoleLogPath = path.join(instanceDir, 'console.log');
  writeFileSync(consoleLogPath, '');
  const layout = instanceLayout(instanceDir);
  for (const dir of [layout.bin, layout.home, layout.tmp]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of ['shutdown', 'poweroff', 'halt'])
    writeFileSync(path.join(layout.bin, name), powerShim(layout.powerRequest), { mode: 0o755 });
  if (userData === undefined) return { consoleLogPath, layout };
  const file = path.join(instanceDir, 'user-data.sh');
  writeFileSync(file, userData, { mode: 0o755 });
  return userData.startsWith('#!') ? { consoleLogPath, layout, scriptPath: file } : { consoleLogPath, layout };
}
