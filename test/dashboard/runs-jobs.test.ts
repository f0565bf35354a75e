/**
 * The Runs page's form and jobs (dashboard/pages/runs/start.ts, jobs.ts): form fields become the fan-out's input
 * and are checked by its own schema, with its messages; a job reports running, then its run or its error in words.
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../lib/errors.ts';
import type { PrimesResult } from '../../lib/primes/run.ts';
import { createRunJobs } from '../../dashboard/pages/runs/jobs.ts';
import { fieldValue, formToRunInput } from '../../dashboard/pages/runs/start.ts';

describe('the form', () => {
  it('reads digits with group separators or an exponent as numbers, empty as absent, the rest as text', () => {
    expect(fieldValue('100,000,000')).toBe(100_000_000);
    expect(fieldValue(' 1e8 ')).toBe(100_000_000);
    expect(fieldValue('101_000_000')).toBe(101_000_000);
    expect(fieldValue('')).toBeUndefined();
    expect(fieldValue(null)).toBeUndefined();
    expect(fieldValue('ten')).toBe('ten');
  });

  it('gives the fan-out input the form describes', () => {
    const form = new URLSearchParams({
      start: '100000000',
      end: '101000000',
      chunks: '4',
      chunkSize: '',
      backend: 'ec2',
    });
    expect(formToRunInput(form)).toEqual({ start: 100_000_000, end: 101_000_000, chunks: 4, backend: 'ec2' });
  });

  it.each([
    [{ start: '101000000', end: '100000000', chunks: '4' }, 'start must be ≤ end (the range is [start, end))'],
    [{ start: 'ten', end: '100', chunks: '4' }, 'start must be a number'],
    [{ start: '1', end: '100', chunks: '2', chunkSize: '5' }, 'chunks: give chunks or chunkSize, not both'],
    [{ start: '1', end: '100', backend: 'gpu' }, 'backend must be one of: lambda, ec2, local'],
  ])('refuses %j with the schema’s message', (fields, message) => {
    expect(() => formToRunInput(new URLSearchParams(fields))).toThrow(new UserError('INVALID_INPUT', message));
  });
});

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('createRunJobs', () => {
  it('reports a job running with its elapsed time, then the run it became', async () => {
    let now = 1000;
    const jobs = createRunJobs({ now: () => now });
    const run = deferred<PrimesResult>();
    const job = jobs.start('[1, 100) in 4 chunks on lambda', () => run.promise);
    now = 3500;
    expect(jobs.view(job)).toEqual({ state: 'running', what: '[1, 100) in 4 chunks on lambda', elapsedMs: 2500 });
    run.resolve({ runId: 'r1', count: 25, complete: true } as PrimesResult);
    await settle();
    now = 9000;
    expect(jobs.view(jobs.get(job.id)!)).toMatchObject({
      state: 'ok',
      runId: 'r1',
      count: 25,
      complete: true,
      elapsedMs: 2500,
    });
  });

  it('knows the run id it was started with while the run is still going (where its progress.json is)', () => {
    const jobs = createRunJobs({ now: () => 0 });
    const job = jobs.start('x', () => new Promise<PrimesResult>(() => undefined), '20261203T143000Z-0123456789ab');
    expect(jobs.view(job)).toEqual({
      state: 'running',
      what: 'x',
      elapsedMs: 0,
      runId: '20261203T143000Z-0123456789ab',
    });
  });

  it('tells a refusal from a failure, in words', async () => {
    const jobs = createRunJobs();
    const refused = jobs.start('a', () => Promise.reject(new UserError('INVALID_INPUT', 'end must be a number')));
    const failed = jobs.start('b', () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:3002')));
    const threw = jobs.start('c', () => {
      throw new Error('no client');
    });
    await settle();
    expect(jobs.view(refused).error).toBe('The run was refused: end must be a number');
    expect(jobs.view(failed)).toMatchObject({
      state: 'error',
      error: 'The run failed: connect ECONNREFUSED 127.0.0.1:3002',
    });
    expect(jobs.view(threw)).toMatchObject({ state: 'error', error: 'The run failed: no client' });
  });

  it('keeps the running jobs and the latest finished ones only', async () => {
    const jobs = createRunJobs({ keepFinished: 2 });
    const never = jobs.start('running', () => new Promise<PrimesResult>(() => undefined));
    const done = ['1', '2', '3'].map((id) =>
      jobs.start(id, async () => ({ runId: id, count: 0, complete: true }) as PrimesResult),
    );
    await settle();
    expect(jobs.get(never.id)).toBeDefined();
    expect(done.map((job) => jobs.get(job.id)?.what)).toEqual([undefined, '2', '3']);
  });
});
