/**
 * The names `cloud-parallel dashboard --stage` derives (lib/stage.ts) are the ones serverless.yml gives a stage:
 * read from serverless.yml's own text with the stage and region put in, as the framework does.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import { stageNames } from '../../lib/stage.ts';

const yml = readFileSync(path.join(PROJECT_ROOT, 'serverless.yml'), 'utf8');

/** serverless.yml's value of `key:` (the first one), with ${self:service}, ${sls:stage} and ${aws:region} filled. */
function resolved(key: string, stage: string, region: string): string {
  const value = new RegExp(`^\\s*${key}: (\\S+)\\s*$`, 'm').exec(yml)?.[1];
  if (value === undefined) throw new Error(`serverless.yml has no ${key}`);
  const service = /^service: (\S+)$/m.exec(yml)![1]!;
  return value
    .replaceAll('${self:service}', service)
    .replaceAll('${sls:stage}', stage)
    .replaceAll('${aws:region}', region);
}

describe('stageNames', () => {
  it('the data bucket and the MongoDB URI parameter as serverless.yml params name them', () => {
    const names = stageNames('prod', 'eu-west-1');
    expect(names.bucket).toBe(resolved('dataBucket', 'prod', 'eu-west-1'));
    expect(names.bucket).toBe('cloud-parallel-prod-eu-west-1-data');
    expect(names.mongodbUriParameter).toBe(resolved('mongodbUriParameter', 'prod', 'eu-west-1'));
  });

  it('functions as the framework names them, the way serverless.yml itself names the rates worker', () => {
    expect(stageNames('prod', 'eu-west-1').functionName('rates-worker')).toBe(
      resolved('RATES_WORKER_FUNCTION', 'prod', 'eu-west-1'),
    );
    expect(stageNames('dev', 'us-east-1').functionName('scrape')).toBe('cloud-parallel-dev-scrape');
  });

  it('refuses names AWS would refuse', () => {
    expect(() => stageNames('a b', 'us-east-1')).toThrow(/stage name/);
    expect(() => stageNames('dev', 'mars-1')).toThrow(/AWS region/);
  });
});
