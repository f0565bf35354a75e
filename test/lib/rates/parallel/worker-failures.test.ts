/**
 * lib/rates/parallel/worker.ts when a task must fail, against the local S3 server (the rig: worker-rig.ts): a
 * replaced upload (412), a task refused before any request, a download cut mid-chunk and an upload part refused,
 * through the fault proxy. After each, no multipart upload is open and no scratch object appeared.
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../../lib/errors.ts';
import { planChunks } from '../../../../lib/rates/parallel/chunks.ts';
import { runWorkerTask } from '../../../../lib/rates/parallel/worker.ts';
import { SourceChangedError } from '../../../../lib/rates/parallel/worker-errors.ts';
import { corpus } from './corpus.ts';
import { headerOf } from './runs.ts';
import {
  BUCKET,
  exists,
  generated,
  openUploads,
  parseChecked,
  parseTask,
  rig,
  upload,
  useWorkerRig,
} from './worker-rig.ts';

useWorkerRig();

describe('refusals and failures', () => {
  it('an upload replaced between two chunks fails the second with a message naming it (412)', async () => {
    const file = corpus().find((f) => f.name === 'normal');
    if (file === undefined) throw new Error('the corpus lost a file');
    const source = await upload('uploads/replaced.csv', file.csv);
    const header = headerOf(file.csv);
    const [first, second] = planChunks({ dataStart: header.dataStart, size: file.csv.length, workers: 2 });
    if (first === undefined || second === undefined) throw new Error('expected two chunks');
    await parseChecked(
      rig.s3,
      source,
      parseTask(source, header, first, { kind: 'known', at: first.s }, 'runs/rates/r/0'),
    );
    await upload('uploads/replaced.csv', Buffer.concat([file.csv, Buffer.from('9,new,1,2\n')]));
    const failed = runWorkerTask(rig.s3, parseTask(source, header, second, { kind: 'guess' }, 'runs/rates/r/1'));
    await expect(failed).rejects.toThrow(SourceChangedError);
    await expect(failed).rejects.toThrow(
      `s3://${BUCKET}/uploads/replaced.csv was replaced while the parallel run was reading it (its ETag is no longer ${source.eTag})`,
    );
    expect(await exists('runs/rates/r/1.csv')).toBe(false);
    expect(await exists('runs/rates/r/1.values')).toBe(false);
    expect(await openUploads()).toEqual([]);
  });

  it('refuses a task that would write outside runs/rates/ before anything is rig.sent', async () => {
    const csv = Buffer.from('id,name,num,den\n1,a,2,3\n');
    const source = { key: 'uploads/any.csv', csv, eTag: '"0"' };
    const task = parseTask(source, headerOf(csv), { index: 0, s: 16, e: csv.length }, { kind: 'known', at: 16 }, 'x');
    const outside = { ...task, output: { csv: 'results/any/rates.csv', values: 'runs/rates/ok/0.values' } };
    const refused = runWorkerTask(rig.s3, outside);
    await expect(refused).rejects.toThrow(UserError);
    await expect(refused).rejects.toThrow(/output\.csv: must be a key under runs\/rates\//);
    const climbing = { ...task, output: { csv: 'runs/rates/../../results/x.csv', values: 'runs/rates/ok/0.values' } };
    await expect(runWorkerTask(rig.s3, climbing)).rejects.toThrow(/without "\." or "\.\." segments/);
    await expect(runWorkerTask(rig.s3, { kind: 'nothing' })).rejects.toThrow(/not a rates worker task/);
    expect(rig.sent).toEqual([]);
  });

  it('a download cut mid-chunk fails the task and aborts the multipart upload it had begun', async () => {
    const csv = generated(600_000);
    const source = await upload('uploads/cut.csv', csv);
    const header = headerOf(csv);
    const range = { index: 0, s: header.dataStart, e: csv.length };
    // Past the first 5 MiB part of rates.csv, so a multipart upload is open when the download breaks.
    rig.proxy.addRule({ method: 'GET', key: 'uploads/cut.csv', fault: { cutAfterBytes: 9 * 1024 * 1024 } });
    const task = parseTask(source, header, range, { kind: 'known', at: range.s }, 'runs/rates/cut/0');
    await expect(runWorkerTask(rig.faulty, task)).rejects.toThrow();
    const began = rig.proxy.requests.filter((r) => r.method === 'POST' && r.key === 'runs/rates/cut/0.csv');
    expect(began.length).toBeGreaterThan(0);
    expect(await openUploads()).toEqual([]);
    expect(await exists('runs/rates/cut/0.csv')).toBe(false);
    expect(await exists('runs/rates/cut/0.values')).toBe(false);
  });

  it('an upload part refused by S3 fails the task without waiting forever, and leaves no multipart upload', async () => {
    const csv = generated(600_000);
    const source = await upload('uploads/refused-part.csv', csv);
    const header = headerOf(csv);
    const range = { index: 0, s: header.dataStart, e: csv.length };
    rig.proxy.addRule({
      method: 'PUT',
      key: 'runs/rates/part/0.csv',
      query: /partNumber=/,
      times: Number.POSITIVE_INFINITY,
      fault: { status: 500, code: 'InternalError' },
    });
    const task = parseTask(source, header, range, { kind: 'known', at: range.s }, 'runs/rates/part/0');
    await expect(runWorkerTask(rig.faulty, task)).rejects.toThrow(
      `chunk 0: uploading s3://${BUCKET}/runs/rates/part/0.csv failed: InternalError (HTTP 500)`,
    );
    expect(await openUploads()).toEqual([]);
    expect(await exists('runs/rates/part/0.csv')).toBe(false);
  });
});
