/**
 * What the CLI loads before a command runs (issue 16: a CLI that answers in under a second). Each command line runs
 * in a process of its own from the sources (`node --import tsx cli/main.ts`), with a loader hook that lists every
 * module it loads (test/support/loaded-modules.mjs); the test judges the list, not the time:
 *
 * - `--help` in every form loads the specs, the help text and at most commander, and nothing of any command;
 * - a refused command line loads that command's checks (cli/args/<command>.ts) and no other command's, and never a
 *   command's module (cli/<command>.ts: SDK clients, the chart renderer, the MongoDB driver);
 * - and no package beyond commander and zod.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS, type CommandName } from '../../cli/spec.ts';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import { useTempDir } from '../support/temp-dir.ts';

const run = promisify(execFile);
const tempDir = useTempDir('cp-lazy-cli-');

interface Loaded {
  /** Project files, relative to the root (`cli/args/rates.ts`). */
  files: string[];
  /** npm packages, by name (`@aws-sdk/client-s3`). */
  packages: string[];
}

let runs = 0;
/** Runs `cloud-parallel <args>` from the sources and returns what it loaded; its exit code is not judged here. */
async function loadedBy(args: string[]): Promise<Loaded> {
  const log = path.join(tempDir(), `loaded-${runs++}.txt`);
  writeFileSync(log, '');
  const hook = path.join(PROJECT_ROOT, 'test/support/loaded-modules.mjs');
  await run(process.execPath, ['--import', 'tsx', '--import', hook, 'cli/main.ts', ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CLOUD_PARALLEL_LOADED_MODULES: log },
  }).catch((error: { code?: unknown }) => {
    // A refused command line exits 1, as it should; anything else is a failure of the run itself.
    if (error.code !== 1) throw error;
  });
  const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const files = new Set<string>();
  const packages = new Set<string>();
  for (const url of urls) {
    if (!url.startsWith('file:')) continue; // node: builtins
    const file = new URL(url).pathname;
    const inPackage = file.lastIndexOf('/node_modules/');
    if (inPackage >= 0) {
      const [scope, name] = file.slice(inPackage + '/node_modules/'.length).split('/');
      packages.add(scope!.startsWith('@') ? `${scope}/${name}` : scope!);
    } else files.add(path.relative(PROJECT_ROOT, file));
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** The module that runs a command (never loaded unless its command line was accepted). */
const commandModule = (command: CommandName) => (command === 'bench' ? 'bench/index.ts' : `cli/${command}.ts`);
const beyond = (packages: string[], allowed: string[]) => packages.filter((name) => !allowed.includes(name));
const argsModules = (files: string[]) => files.filter((file) => file.startsWith('cli/args/'));

describe('--help loads no command', () => {
  const lines = [['--help'], ['help'], ['help', 'rates'], ...COMMANDS.map((command) => [command, '--help'])];
  it.each(lines.map((line) => [line.join(' '), line]))('cloud-parallel %s', async (_, line) => {
    const { files, packages } = await loadedBy(line);
    expect(beyond(packages, ['commander'])).toEqual([]);
    expect(argsModules(files)).toEqual([]);
    for (const command of COMMANDS) expect(files).not.toContain(commandModule(command));
    expect(files.filter((file) => !file.startsWith('cli/'))).toEqual(['lib/errors.ts']);
  });
});

describe('a refused command line loads its own checks only', () => {
  const refused: Record<Exclude<CommandName, 'bench'>, string[]> = {
    local: ['bogus'],
    rates: ['/nonexistent/counties.csv'],
    primes: ['--start', '0', '--end', '1e9', '--chunks', '0'],
    scrape: ['--source', 'nope'],
    dashboard: [],
    demo: ['extra'],
  };
  it.each(Object.entries(refused))('cloud-parallel %s …', async (command, args) => {
    const { files, packages } = await loadedBy([command, ...args]);
    expect(argsModules(files)).toEqual(['cli/args/common.ts', `cli/args/${command}.ts`]);
    for (const other of COMMANDS) expect(files).not.toContain(commandModule(other));
    expect(beyond(packages, ['commander', 'zod'])).toEqual([]);
  });
});
