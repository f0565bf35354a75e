/**
 * The rates job on the EC2 backend, through the local EC2 endpoint and local S3 with nothing mocked: one instance
 * streams the input with presigned URLs only, and the outputs match what the Lambda path writes for the same file.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { runRatesOnEc2, INPUTS_PREFIX } from '../../../lib/rates/ec2.ts';
import { runRatesJob } from '../../../lib/rates/job.ts';
import { sampleCountyCsv } from '../../../lib/rates/sample-data.ts';
import { useLocalEc2 } from '../../support/ec2.ts';

const local = useLocalEc2('rates-ec2-bucket');
const BUCKET = local.bucket;
const defaults = { numerator: 'cancer', denominator: 'population', bins: 10 };

async function text(key: string): Promise<string> {
  const object = await local.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return object.Body!.transformToString('utf-8');
}

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await local.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

async function stage(name: string, body: string): Promise<{ key: string; resultPrefix: string }> {
  const key = `${INPUTS_PREFIX}${name}.csv`;
  await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  return { key, resultPrefix: `results/${name}/` };
}

describe('rates on the EC2 backend', () => {
  it('adds the rate column on an instance and publishes rates.csv, the chart and summary.json', async () => {
    const before = local.ec2Server.instances().length;
    const csv = 'fips,county,cancer,population\n1,A,10,1000\n2,B,5,100\n3,C,n/a,100\n4,D,3,0\n5,E,1,4\n';
    const staged = await stage('small', csv);
    const report = await runRatesOnEc2({ ec2: local.ec2, s3: local.s3 }, local.config(), {
      bucket: BUCKET,
      ...staged,
      options: defaults,
    });
    const { outcome } = report;
    if (outcome.status !== 'ok') throw new Error(`expected a summary, got ${JSON.stringify(outcome)}`);
    expect(outcome.rows).toBe(3);
    expect(outcome.badRows.count).toBe(2);
    expect(outcome.badRows.samples.map((b) => b.line)).toEqual([4, 5]);
    expect(outcome.stats).toMatchObject({ min: 0.01, max: 0.25 });
    expect(outcome.histogram.counts.reduce((a, b) => a + b, 0)).toBe(3);
    expect(outcome.input).toMatchObject({ bucket: BUCKET, key: 'inputs/small.csv', bytes: Buffer.byteLength(csv) });

    const lines = (await text('results/small/rates.csv')).trim().split('\n');
    expect(lines[0]).toBe('fips,county,cancer,population,rate');
    expect(lines.slice(1).map((l) => Number(l.split(',').at(-1)))).toEqual([10 / 1000, 5 / 100, 1 / 4]);
    expect(await text('results/small/histogram.svg')).toContain('<svg');
    expect(JSON.parse(await text('results/small/summary.json'))).toMatchObject({
      status: 'ok',
      runId: report.runId,
      rows: 3,
    });
    expect(report).toMatchObject({ instances: 1, cost: { billedSeconds: 60 } });
    await expect.poll(() => local.states(before), { timeout: 10_000 }).toEqual(['terminated']);
    expect(await local.scratchKeys()).toEqual([]);
  }, 60_000);

  it('writes the same rates.csv and statistics as the Lambda path for the same file', async () => {
    const csv = sampleCountyCsv({ rows: 5000, seed: 7, badRowFraction: 0.01 });
    const staged = await stage('parity', csv);
    await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/parity-lambda.csv', Body: csv }));
    const viaLambdaCode = await runRatesJob(local.s3, { bucket: BUCKET, key: 'uploads/parity-lambda.csv' }, defaults);
    const { outcome: viaEc2 } = await runRatesOnEc2({ ec2: local.ec2, s3: local.s3 }, local.config(), {
      bucket: BUCKET,
      ...staged,
      options: defaults,
    });
    if (viaEc2.status !== 'ok' || viaLambdaCode.status !== 'ok') throw new Error('both runs should succeed');
    expect(await text('results/parity/rates.csv')).toBe(await text('results/parity-lambda/rates.csv'));
    expect(viaEc2.stats).toEqual(viaLambdaCode.stats);
    expect(viaEc2.histogram).toEqual(viaLambdaCode.histogram);
    expect(viaEc2.badRows).toEqual(viaLambdaCode.badRows);
  }, 60_000);

  it('a bad file gives error.json with the reason, and no results', async () => {
    const staged = await stage('no-population', 'fips,county,cancer\n1,A,10\n');
    const { outcome } = await runRatesOnEc2({ ec2: local.ec2, s3: local.s3 }, local.config(), {
      bucket: BUCKET,
      ...staged,
      options: defaults,
    });
    expect(outcome).toMatchObject({
      status: 'error',
      error: { code: 'MISSING_COLUMN', message: expect.stringContaining('population') },
    });
    expect(await keysUnder('results/no-population/')).toEqual(['results/no-population/error.json']);
    expect(await local.scratchKeys()).toEqual([]);
  }, 60_000);

  it('an input that is gone is OBJECT_NOT_FOUND, without launching anything', async () => {
    const before = local.ec2Server.instances().length;
    const { outcome } = await runRatesOnEc2({ ec2: local.ec2, s3: local.s3 }, local.config(), {
      bucket: BUCKET,
      key: 'inputs/never-uploaded.csv',
      resultPrefix: 'results/never-uploaded/',
      options: defaults,
    });
    expect(outcome).toMatchObject({ status: 'error', error: { code: 'OBJECT_NOT_FOUND' } });
    expect(local.ec2Server.instances()).toHaveLength(before);
  }, 30_000);
});
