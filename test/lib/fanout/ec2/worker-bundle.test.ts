import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// The plugins' manifest is CommonJS (the framework loads the plugins); vitest imports it as such.
import { manifestHolds } from '../../../../serverless-plugins/input-manifest.cjs';
import { buildWorkerBundles, ensureWorkerBundles, INPUTS_MANIFEST } from '../../../../lib/fanout/ec2/worker-bundle.ts';
import { PROJECT_ROOT } from '../../../../local-stack/service-config.ts';
import { SIEVE_WASM_PATH } from '../../../../lib/primes/wasm-kernel.ts';
import { ROWS_WASM_PATH } from '../../../../lib/rates/row-kernel.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-bundles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('buildWorkerBundles', () => {
  it('builds an ESM bundle per worker exporting run(task), and rewrites a file only when its bytes change', async () => {
    const first = await buildWorkerBundles(dir);
    const primes = await import(`${first.primes}?first`);
    await expect(primes.run({ start: 100_000_000, end: 101_000_000 })).resolves.toMatchObject({ count: 54_208 });
    // It carries the sieve's WebAssembly kernel inline: an instance gets this one file, not the .wasm beside it.
    const wasm = readFileSync(SIEVE_WASM_PATH).toString('base64');
    expect(readFileSync(first.primes, 'utf8')).toContain(wasm);
    // And the rates worker the rates engine's row kernel.
    expect(readFileSync(first.rates, 'utf8')).toContain(readFileSync(ROWS_WASM_PATH).toString('base64'));
    const before = statSync(first.primes);

    // Same sources, same bytes: the file is left alone (serverless-offline reloads every handler when it changes).
    const second = await buildWorkerBundles(dir);
    const after = statSync(second.primes);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    // The build lists what it read, so the serverless plugin can skip the next one (serverless-plugins/).
    const manifest = path.join(dir, INPUTS_MANIFEST);
    const listed = Object.keys((JSON.parse(readFileSync(manifest, 'utf8')) as { files: object }).files);
    expect(listed).toEqual(
      expect.arrayContaining([
        'lib/primes/ec2-worker.ts',
        'lib/rates/parallel/ec2-worker.ts',
        SIEVE_WASM_PATH,
        ROWS_WASM_PATH,
      ]),
    );
    expect(manifestHolds(PROJECT_ROOT, manifest)).toBe(true);

    // A stale or damaged bundle is replaced, and no longer matches the list until then.
    writeFileSync(first.rates, 'export const run = () => "stale";');
    expect(manifestHolds(PROJECT_ROOT, manifest)).toBe(false);
    await buildWorkerBundles(dir);
    expect(readFileSync(first.rates, 'utf8')).not.toContain('"stale"');
  }, 60_000);

  it('ensureWorkerBundles builds only when the inputs.json of the last build no longer holds', async () => {
    const own = mkdtempSync(path.join(os.tmpdir(), 'cp-bundles-ensure-'));
    try {
      let builds = 0;
      const onBuild = () => void builds++;
      const first = await ensureWorkerBundles({ outDir: own, onBuild });
      expect(builds).toBe(1);
      const before = statSync(first.primes);

      // Nothing changed: the same paths, no build, the files untouched.
      expect(await ensureWorkerBundles({ outDir: own, onBuild })).toEqual(first);
      expect(builds).toBe(1);
      expect(statSync(first.primes).mtimeMs).toBe(before.mtimeMs);

      // A bundle that no longer hashes as built (as an edited input would) is built again.
      writeFileSync(first.rates, 'export const run = () => "stale";');
      await ensureWorkerBundles({ outDir: own, onBuild });
      expect(builds).toBe(2);
      expect(readFileSync(first.rates, 'utf8')).not.toContain('"stale"');
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  }, 60_000);
});
