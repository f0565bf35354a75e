'use strict';
// A build's inputs and outputs with their content hashes, written next to what the build made: a later build whose
// every listed file still hashes the same can reuse the output instead of rebuilding it (the local stack's start
// pays several seconds for each build otherwise). Hashes of contents, not mtimes: a checkout or an editor that
// rewrites a file unchanged costs nothing, and a change that keeps the mtime (a restore, a copy) is still seen —
// unless the caller opts into `trustStat` (the compiled CLI's check, on every command start: a file whose size and
// mtime are as recorded is taken as unchanged, what make assumes; one whose mtime moved is hashed again).
// Shared by the local plugins (CommonJS, loaded by the framework), lib/fanout/ec2/worker-bundle.ts and cli/compiled.js.
const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const FORMAT = 2;
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

/** Size and mtime of a file, or null when it is absent. */
function statOf(file) {
  try {
    const { size, mtimeMs } = statSync(file);
    return { size, mtimeMs };
  } catch (error) {
    if (error.code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Writes `manifest` listing `files` (paths relative to `root`, or absolute) with their hashes, sizes and mtimes, and
 * `key` (whatever else decides the output, e.g. the build options). Written whole and renamed, so a reader never
 * sees half a file.
 */
function writeManifest(root, manifest, files, key = '') {
  const entries = {};
  for (const file of [...new Set(files.map((f) => path.relative(root, path.resolve(root, f))))].sort()) {
    const at = path.join(root, file);
    entries[file] = { hash: hashFile(at), ...statOf(at) };
  }
  mkdirSync(path.dirname(manifest), { recursive: true });
  const temporary = `${manifest}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ format: FORMAT, key, files: entries }, null, 1)}\n`);
  renameSync(temporary, manifest);
}

/**
 * Null when `manifest` exists, was written with `key`, and every file it lists still hashes as it did then; else
 * why not, as `{ kind: 'no-manifest' | 'other-key' | 'gone' | 'changed', file? }` (file for the last two).
 */
function manifestMismatch(root, manifest, key = '', { trustStat = false } = {}) {
  let saved;
  try {
    saved = JSON.parse(readFileSync(manifest, 'utf8'));
  } catch (error) {
    // Missing or cut short: nothing to reuse, build.
    if (error.code === 'ENOENT' || error instanceof SyntaxError) return { kind: 'no-manifest' };
    throw error;
  }
  if (saved?.format !== FORMAT || typeof saved.files !== 'object' || saved.files === null) {
    return { kind: 'no-manifest' };
  }
  if (saved.key !== key) return { kind: 'other-key' };
  const entries = Object.entries(saved.files);
  if (entries.length === 0) return { kind: 'no-manifest' };
  for (const [file, recorded] of entries) {
    const at = path.join(root, file);
    const now = statOf(at);
    if (now === null) {
      if (recorded.hash === MISSING) continue;
      return { kind: 'gone', file };
    }
    if (trustStat && now.size === recorded.size && now.mtimeMs === recorded.mtimeMs) continue;
    if (hashFile(at) !== recorded.hash) return { kind: 'changed', file };
  }
  return null;
}

/** Whether `manifest` exists, was written with `key`, and every file it lists still hashes as it did then. */
function manifestHolds(root, manifest, key = '') {
  return manifestMismatch(root, manifest, key) === null;
}

module.exports = { hashFile, manifestHolds, manifestMismatch, writeManifest };
