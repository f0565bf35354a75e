import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manifestHolds, manifestMismatch, writeManifest } from '../../serverless-plugins/input-manifest.cjs';

describe('input manifest (what the local plugins check before building again)', () => {
  let root: string;
  let manifest: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'cp-manifest-'));
    manifest = path.join(root, 'out', 'inputs.json');
    mkdirSync(path.join(root, 'lib'));
    writeFileSync(path.join(root, 'lib', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(path.join(root, 'out.js'), 'built\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('holds while every listed file hashes as it did, absolute or relative', () => {
    writeManifest(root, manifest, [path.join(root, 'lib', 'a.ts'), 'out.js', 'optional.wasm'], 'options-1');
    expect(manifestHolds(root, manifest, 'options-1')).toBe(true);
    // Rewritten with the same bytes (a checkout, an editor's save): still holds.
    writeFileSync(path.join(root, 'lib', 'a.ts'), 'export const a = 1;\n');
    expect(manifestHolds(root, manifest, 'options-1')).toBe(true);
  });

  it.each([
    ['an input changes', (r: string) => writeFileSync(path.join(r, 'lib', 'a.ts'), 'export const a = 2;\n')],
    ['an output is edited', (r: string) => writeFileSync(path.join(r, 'out.js'), 'stale\n')],
    ['an output is deleted', (r: string) => rmSync(path.join(r, 'out.js'))],
    ['a missing input appears', (r: string) => writeFileSync(path.join(r, 'optional.wasm'), 'x')],
    ['the manifest is cut short', () => writeFileSync(manifest, '{"format":1,')],
    ['the manifest is gone', () => rmSync(manifest)],
  ])('fails when %s', (_what, change) => {
    writeManifest(root, manifest, ['lib/a.ts', 'out.js', 'optional.wasm']);
    change(root);
    expect(manifestHolds(root, manifest)).toBe(false);
  });

  it('fails for another key (other build options)', () => {
    writeManifest(root, manifest, ['lib/a.ts'], 'options-1');
    expect(manifestHolds(root, manifest, 'options-2')).toBe(false);
  });

  it('says why it does not hold: no manifest, another key, the file gone or changed', () => {
    expect(manifestMismatch(root, manifest)).toEqual({ kind: 'no-manifest' });
    writeManifest(root, manifest, ['lib/a.ts', 'out.js'], 'options-1');
    expect(manifestMismatch(root, manifest, 'options-1')).toBeNull();
    expect(manifestMismatch(root, manifest, 'options-2')).toEqual({ kind: 'other-key' });
    writeFileSync(path.join(root, 'lib', 'a.ts'), 'export const a = 2;\n');
    expect(manifestMismatch(root, manifest, 'options-1')).toEqual({ kind: 'changed', file: path.join('lib', 'a.ts') });
    rmSync(path.join(root, 'out.js'));
    writeManifest(root, manifest, ['lib/a.ts', 'out.js'], 'options-1');
    writeFileSync(path.join(root, 'out.js'), 'built\n');
    expect(manifestMismatch(root, manifest, 'options-1')).toEqual({ kind: 'changed', file: 'out.js' });
    writeManifest(root, manifest, ['lib/a.ts', 'out.js'], 'options-1');
    rmSync(path.join(root, 'out.js'));
    expect(manifestMismatch(root, manifest, 'options-1')).toEqual({ kind: 'gone', file: 'out.js' });
  });

  it('with trustStat, takes a file whose size and mtime are as recorded as unchanged; without, hashes it', () => {
    const file = path.join(root, 'lib', 'a.ts');
    // Whole seconds, so restoring the mtime below is exact (a Date carries no sub-millisecond part).
    const atime = new Date(1_700_000_000_000);
    const mtime = new Date(1_700_000_000_000);
    utimesSync(file, atime, mtime);
    writeManifest(root, manifest, ['lib/a.ts']);
    // Same size, same mtime, other bytes: what make would miss, and what only a hash sees.
    writeFileSync(file, 'export const a = 9;\n');
    utimesSync(file, atime, mtime);
    expect(manifestMismatch(root, manifest, '', { trustStat: true })).toBeNull();
    expect(manifestMismatch(root, manifest)).toEqual({ kind: 'changed', file: path.join('lib', 'a.ts') });
    // The mtime moved: hashed again even when trusting stat.
    utimesSync(file, atime, new Date(mtime.getTime() + 5000));
    expect(manifestMismatch(root, manifest, '', { trustStat: true })).toEqual({
      kind: 'changed',
      file: path.join('lib', 'a.ts'),
    });
  });
});
