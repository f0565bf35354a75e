import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWorkerBundles } from '../../../../lib/fanout/ec2/worker-bundle.ts';
import { SIEVE_WASM_PATH } from '../../../../lib/primes/wasm-kernel.ts';

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
    const before = statSync(first.primes);

    // Same sources, same bytes: the file is left alone (serverless-offline reloads every handler when it changes).
    const second = await buildWorkerBundles(dir);
    const after = statSync(second.primes);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    // A stale or damaged bundle is replaced.
    writeFileSync(first.rates, 'export const run = () => "stale";');
    await buildWorkerBundles(dir);
    expect(readFileSync(first.rates, 'utf8')).not.toContain('"stale"');
  }, 60_000);
});
