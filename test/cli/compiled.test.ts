/**
 * The compiled CLI (issue 16) behaves as the sources do, and cli/bin.js runs it only while it matches them.
 *
 * The real .cli-build/ is left alone (another test or a user's shell may be running it, and a build replaces it
 * whole): the project's tracked files are copied to a temp folder, with node_modules linked, and built there by
 * scripts/build-cli.ts as `npm install` builds it. Every command line then runs through that copy's cli/bin.js
 * twice — compiled, and with CLOUD_PARALLEL_CLI_SOURCES=1 through tsx — and stdout, stderr and the exit code must be
 * the same. Then the copy's sources are touched, edited and the stamp removed, to see bin.js keep the bundle for a
 * touch and fall back with its one-line notice otherwise; the real sources are never edited.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/spec.ts';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import { useTempDir } from '../support/temp-dir.ts';

const run = promisify(execFile);
const tempDir = useTempDir('cp-compiled-cli-');
/** The copy of the project the tests build and run. */
const copy = () => path.join(tempDir(), 'project');

interface Outcome {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs the copy's `cloud-parallel <args>`: the compiled CLI when bin.js trusts it, or the sources when told to. */
async function cli(args: string[], from: 'bin' | 'sources'): Promise<Outcome> {
  // vitest.config.ts sets CLOUD_PARALLEL_CLI_SOURCES for every test; here it is the variable under test.
  const { CLOUD_PARALLEL_CLI_SOURCES: _forced, ...env } = process.env;
  if (from === 'sources') env.CLOUD_PARALLEL_CLI_SOURCES = '1';
  // No stack: `local status` looks in a state folder nobody uses.
  env.CLOUD_PARALLEL_STATE_DIR = path.join(tempDir(), 'no-stack');
  try {
    const { stdout, stderr } = await run(process.execPath, ['cli/bin.js', ...args], { cwd: copy(), env });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { stdout: failed.stdout ?? '', stderr: failed.stderr ?? '', code: failed.code };
  }
}

beforeAll(async () => {
  // Tracked files and new ones not yet added (git-ignored ones are builds and data); node_modules is linked below
  // (in a worktree it can be an untracked link).
  const listed = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: PROJECT_ROOT,
    maxBuffer: 16 << 20,
  });
  const files = listed.stdout.split('\0').filter((file) => file !== '' && file.split('/')[0] !== 'node_modules');
  for (const file of files) {
    mkdirSync(path.join(copy(), path.dirname(file)), { recursive: true });
    // The working tree's files, edits included: the copy is what the sources are now.
    copyFileSync(path.join(PROJECT_ROOT, file), path.join(copy(), file));
  }
  symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(copy(), 'node_modules'));
  await run(process.execPath, ['--import', 'tsx', 'scripts/build-cli.ts'], { cwd: copy() });
}, 120_000);

describe('the compiled CLI answers as the sources do', () => {
  const lines = [
    ['--help'],
    ['help'],
    [],
    ...COMMANDS.map((command) => [command, '--help']),
    ['local', 'bogus'],
    ['local', 'status'],
    ['rates', '/nonexistent/counties.csv'],
    ['rates', '--bins', 'many', 'x.csv'],
    ['primes', '--start', '0', '--end', '1e9', '--chunks', '0'],
    ['primes', '--start', '1e8', '--json'],
    ['scrape', '--source', 'nope'],
    ['dashboard'],
    ['demo', 'extra'],
    ['nonsense'],
  ];
  it.each(lines.map((line) => [line.join(' '), line]))('cloud-parallel %s', async (_, line) => {
    const compiled = await cli(line, 'bin');
    const sources = await cli(line, 'sources');
    expect(compiled).toEqual(sources);
  });
});

describe('cli/bin.js runs the compiled CLI only while it matches the sources', () => {
  const notice = (reason: string) =>
    `cloud-parallel: ${reason}; running the sources (npm run build:cli compiles them)\n`;

  // In this order: each step leaves the copy as the next one expects.
  it('keeps it when a source is touched but its content is the same', async () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(copy(), 'cli/spec.ts'), later, later);
    const compiled = await cli(['--help'], 'bin');
    expect(compiled).toEqual(await cli(['--help'], 'sources'));
  });

  it('falls back with the notice when a source changed', async () => {
    appendFileSync(path.join(copy(), 'cli/spec.ts'), '// an edit after the build\n');
    const fallback = await cli(['--help'], 'bin');
    const sources = await cli(['--help'], 'sources');
    expect(fallback).toEqual({
      ...sources,
      stderr: notice('cli/spec.ts changed since the CLI was compiled') + sources.stderr,
    });
  });

  it('falls back with the notice when the build is missing', async () => {
    rmSync(path.join(copy(), '.cli-build'), { recursive: true });
    const fallback = await cli(['local', 'bogus'], 'bin');
    const sources = await cli(['local', 'bogus'], 'sources');
    expect(fallback).toEqual({ ...sources, stderr: notice('the compiled CLI is missing') + sources.stderr });
  });
});
