/**
 * Runs a command as a user would (its own process, from the project folder) and notes when each line of its output
 * arrived and when it ended; watches log files the same way. bench/cli.ts builds its timings from these notes, so
 * nothing in the CLI or the stack has to report on itself.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { SeenLine } from './cli-timing.ts';

export interface TimedRun {
  startedAtMs: number;
  endedAtMs: number;
  wallMs: number;
  code: number | null;
  stdout: SeenLine[];
  stderr: SeenLine[];
}

/** Splits a stream's chunks into lines, each stamped with the time its chunk arrived. */
function lineCollector(into: SeenLine[]): (chunk: Buffer) => void {
  let partial = '';
  return (chunk) => {
    const atMs = Date.now();
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const text of lines) into.push({ atMs, text });
  };
}

/** Runs `command args` in `cwd` and resolves once it has exited and its output is closed; rejects on a failure. */
export function timedRun(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  return new Promise<TimedRun>((resolve, reject) => {
    const stdout: SeenLine[] = [];
    const stderr: SeenLine[] = [];
    const startedAtMs = Date.now();
    const started = performance.now();
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', lineCollector(stdout));
    child.stderr.on('data', lineCollector(stderr));
    child.on('error', reject);
    child.on('close', (code) => {
      const run = { startedAtMs, endedAtMs: Date.now(), wallMs: performance.now() - started, code, stdout, stderr };
      if (code === 0) resolve(run);
      else {
        const output = [...stdout, ...stderr].map((line) => line.text).join('\n');
        reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`));
      }
    });
  });
}

/**
 * Notes every new line of the `*.log` files in `dir` (which may not exist yet) with the time it was first seen,
 * polling every `everyMs`: precise to that interval, and blind to nothing since the stack's logs only grow.
 */
export function watchLogs(dir: string, everyMs = 20): { stop(): Record<string, SeenLine[]> } {
  const lines: Record<string, SeenLine[]> = {};
  const consumed: Record<string, number> = {};
  const poll = () => {
    if (!existsSync(dir)) return;
    const atMs = Date.now();
    for (const name of readdirSync(dir).filter((file) => file.endsWith('.log'))) {
      const text = readFileSync(path.join(dir, name), 'utf8');
      const end = text.lastIndexOf('\n') + 1; // whole lines only; the rest is read next time
      const fresh = text.slice(consumed[name] ?? 0, end);
      if (fresh === '') continue;
      consumed[name] = end;
      const seen = lines[name] ?? [];
      lines[name] = seen;
      for (const line of fresh.slice(0, -1).split('\n')) seen.push({ atMs, text: line });
    }
  };
  const timer = setInterval(poll, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      poll();
      return lines;
    },
  };
}
