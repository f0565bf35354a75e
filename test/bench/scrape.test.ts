/**
 * The scrape benchmark still runs end to end (services in their own processes, baseline included) and keeps
 * its promises: every run stores all 80 documents and the fixture never sees more requests at once than C.
 * Speed is the benchmark's business, not this test's: it checks the report's content, never its timings.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';

it('reports every concurrency with its baseline, stays within the bound, and loses nothing', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['cli/bin.js', 'bench', 'scrape', '--latency-ms', '5', '--concurrency', '1,4', '--runs', '1'],
    { cwd: PROJECT_ROOT, timeout: 120_000 },
  );
  const table = stdout.split('\n');
  const header = table.find((line) => line.startsWith('C ') && line.includes('wall ÷ baseline'));
  expect(header, stdout).toBeDefined();
  const columns = header!.split(/\s{2,}/);
  for (const concurrency of [1, 4]) {
    const row = table.find((line) => line.startsWith(`${concurrency} `) && line.includes('×'));
    expect(row, stdout).toBeDefined();
    const cells = row!.split(/\s{2,}/);
    expect(Number(cells[columns.indexOf('fixture maxConcurrent')])).toBe(concurrency);
    expect(cells[columns.indexOf('requests/business')]).toBe('1.050'); // 4 searches + 80 details, no retries
    expect(cells[columns.indexOf('wall ÷ baseline')]).toMatch(/^\d+\.\d{3}×$/);
  }
  expect(stdout).toMatch(/re-run into the same database \(all 80 unchanged\)/);
  expect(stdout).not.toContain('FAILED');
}, 150_000);
