'use strict';
// A build's inputs and outputs with their content hashes, written next to what the build made: a later build whose
// every listed file still hashes the same can reuse the output instead of rebuilding it (the local stack's start
// pays several seconds for each build otherwise). Hashes of contents, not mtimes: a checkout or an editor that
// rewrites a file unchanged costs nothing, and a change that keeps the mtime (a restore, a copy) is still seen.
// Shared by the local plugins (CommonJS, loaded by the framework) and lib/fanout/ec2/worker-bundle.ts.
const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const FORMAT = 1;
const MISSING = 'missing';

/** The hash of a file's contents, or MISSING: an input that is absent (an optional one) is part of the key too. */
function hashFile(file) {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch (error) {
    if (error.code === 'ENOENT') return MISSING;
    throw error;
  }
}

/**
 * Writes `manifest` listing `files` (paths relative to `root`, or absolute) with their hashes, and `key` (whatever
 * else decides the output, e.g. the build options). Written whole and renamed, so a reader never sees half a file.
 */
function writeManifest(root, manifest, files, key = '') {
  const hashes = {};
  for (const file of [...new Set(files.map((f) => path.relative(root, path.resolve(root, f))))].sort()) {
    hashes[file] = hashFile(path.join(root, file));
  }
  mkdirSync(path.dirname(manifest), { recursive: true });
  const temporary = `${manifest}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ format: FORMAT, key, files: hashes }, null, 1)}\n`);
  renameSync(temporary, manifest);
}

/** Whether `manifest` exists, was written with `key`, and every file it lists still hashes as it did then. */
function manifestHolds(root, manifest, key = '') {
  let saved;
  try {
    saved = JSON.parse(readFileSync(manifest, 'utf8'));
  } catch (error) {
    // Missing or cut short: nothing to reuse, build.
    if (error.code === 'ENOENT' || error instanceof SyntaxError) return false;
    throw error;
  }
  if (saved?.format !== FORMAT || saved.key !== key || typeof saved.files !== 'object' || saved.files === null) {
    return false;
  }
  const entries = Object.entries(saved.files);
  return entries.length > 0 && entries.every(([file, hash]) => hashFile(path.join(root, file)) === hash);
}

module.exports = { hashFile, manifestHolds, writeManifest };
