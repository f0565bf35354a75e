// The compiled CLI (scripts/build-cli.ts, run by `npm install`'s prepare script into the git-ignored .cli-build/)
// and the rule cli/bin.js trusts it by: the build records every source file it compiled, with its size, mtime and
// SHA-1; the bundle runs only while each of those files still has that content. A file whose size and mtime are
// unchanged is taken as unchanged (what make assumes); one whose mtime moved (a checkout, a touch) is hashed again,
// so only an edit of its content sends the CLI back to the sources. Plain JavaScript: it runs before any loader.
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUILD_DIR = path.join(PROJECT_ROOT, '.cli-build');
const STAMP = path.join(BUILD_DIR, 'inputs.json');
const ENTRY = path.join(BUILD_DIR, 'main.js');

const sha1 = (file) => createHash('sha1').update(readFileSync(file)).digest('hex');

/** Records the sources a build compiled (paths relative to the project), for compiledEntry to check. */
export function writeStamp(files) {
  const inputs = files.map((file) => {
    const at = path.join(PROJECT_ROOT, file);
    const { size, mtimeMs } = statSync(at);
    return { file, size, mtimeMs, sha1: sha1(at) };
  });
  writeFileSync(STAMP, `${JSON.stringify({ inputs }, null, 1)}\n`);
}

/**
 * The compiled entry's URL when it matches the sources, else why not (a one-line reason for the notice). The
 * sources are forced with CLOUD_PARALLEL_CLI_SOURCES=1 (the tests run them).
 */
export function compiledEntry() {
  if (process.env.CLOUD_PARALLEL_CLI_SOURCES === '1') return { reason: null };
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return { reason: 'the compiled CLI is missing' };
    throw error;
  }
  for (const { file, size, mtimeMs, sha1: digest } of stamp.inputs) {
    const at = path.join(PROJECT_ROOT, file);
    let stat;
    try {
      stat = statSync(at);
    } catch (error) {
      if (error.code === 'ENOENT') return { reason: `${file} is gone since the CLI was compiled` };
      throw error;
    }
    if (stat.size === size && stat.mtimeMs === mtimeMs) continue;
    if (stat.size !== size || sha1(at) !== digest) return { reason: `${file} changed since the CLI was compiled` };
  }
  return { url: pathToFileURL(ENTRY).href };
}
