/**
 * `npm run build:cli` (run by `npm install`'s prepare script): the CLI compiled by esbuild into .cli-build/, so a
 * command pays neither tsx's loader nor compiling TypeScript on every start (how: scripts/cli-build-options.ts).
 * cli/compiled.js records the inputs and decides when cli/bin.js may run the result.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { BUILD_DIR, PROJECT_ROOT, writeStamp } from '../cli/compiled.js';
import {
  isStackServerEntry,
  stackServerEntries,
  stackServerEntryPoints,
} from '../local-stack/stack/compiled-servers.ts';
import { cliBuildOptions } from './cli-build-options.ts';

await rm(BUILD_DIR, { recursive: true, force: true });
// The local stack's servers too (local-stack/stack/compiled-servers.ts): `local start` runs them from here.
const options = cliBuildOptions({ main: 'cli/main.ts', ...stackServerEntryPoints() }, BUILD_DIR);
const { metafile } = await build({ ...options, plugins: [...(options.plugins ?? []), stackServerEntries] });
// The servers' virtual entries (three lines made from a name) have no file to record.
const inputs = Object.keys(metafile.inputs).filter(
  (file) => !file.includes('node_modules/') && !isStackServerEntry(file),
);
writeStamp(inputs);
process.stdout.write(`compiled the CLI into ${path.relative(PROJECT_ROOT, BUILD_DIR)}/ from ${inputs.length} files\n`);
