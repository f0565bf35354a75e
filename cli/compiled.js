// The compiled CLI (scripts/build-cli.ts, run by `npm install`'s prepare script into the git-ignored .cli-build/)
// and the rule cli/bin.js trusts it by: the build records every source file it compiled in an input manifest
// (serverless-plugins/input-manifest.cjs, the local stack's builds use the same); the bundle runs only while each of
// those files still has that content. Checked on every command start, so with the manifest's `trustStat`: a file
// whose size and mtime are unchanged is taken as unchanged (what make assumes); one whose mtime moved (a checkout, a
// touch) is hashed again, so only an edit of its content sends the CLI back to the sources. Plain JavaScript: it
// runs before any loader.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const { manifestMismatch, writeManifest } = createRequire(import.meta.url)('../serverless-plugins/input-manifest.cjs');

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUILD_DIR = path.join(PROJECT_ROOT, '.cli-build');
const STAMP = path.join(BUILD_DIR, 'inputs.json');
const ENTRY = path.join(BUILD_DIR, 'main.js');

/** Records the sources a build compiled (paths relative to the project), for compiledEntry to check. */
export function writeStamp(files) {
  writeManifest(PROJECT_ROOT, STAMP, files);
}

/**
 * The compiled entry's URL when it matches the sources, else why not (a one-line reason for the notice). The
 * sources are forced with CLOUD_PARALLEL_CLI_SOURCES=1 (the tests run them).
 */
export function compiledEntry() {
  if (process.env.CLOUD_PARALLEL_CLI_SOURCES === '1') return { reason: null };
  const mismatch = manifestMismatch(PROJECT_ROOT, STAMP, '', { trustStat: true });
  if (mismatch === null) return { url: pathToFileURL(ENTRY).href };
  if (mismatch.kind === 'gone') return { reason: `${mismatch.file} is gone since the CLI was compiled` };
  if (mismatch.kind === 'changed') return { reason: `${mismatch.file} changed since the CLI was compiled` };
  return { reason: 'the compiled CLI is missing' };
}
