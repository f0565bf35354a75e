import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCachedServiceConfig } from '../../local-stack/service-config-cache.ts';
import type { ServiceConfig } from '../../local-stack/service-config.ts';

const YML = "service: svc\ncustom:\n  port: ${env:SVC_PORT, '3002'}\n";

describe('loadCachedServiceConfig', () => {
  let root: string;
  let stateDir: string;
  let loads: number;
  const load = async (options: { stage?: string }): Promise<ServiceConfig> => {
    loads++;
    return {
      service: 'svc',
      stage: options.stage ?? 'dev',
      region: 'us-east-1',
      buckets: [`b${loads}`],
      notifications: [],
      functions: {},
      environment: {},
    };
  };
  const get = (extra: { stage?: string; env?: NodeJS.ProcessEnv } = {}) =>
    loadCachedServiceConfig({ stateDir, root, load, env: {}, ...extra });

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'cp-config-cache-'));
    stateDir = path.join(root, '.local-stack');
    mkdirSync(path.join(root, 'serverless-plugins'));
    writeFileSync(path.join(root, 'serverless.yml'), YML);
    writeFileSync(path.join(root, 'serverless-plugins', 'p.cjs'), 'module.exports = class {};\n');
    writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion":3}\n');
    loads = 0;
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('runs the loader once and answers later starts from the state folder', async () => {
    const first = await get();
    expect(await get()).toEqual(first);
    expect(loads).toBe(1);
  });

  it.each([
    ['serverless.yml', () => writeFileSync(path.join(root, 'serverless.yml'), `${YML}# changed\n`)],
    ['a local plugin', () => writeFileSync(path.join(root, 'serverless-plugins', 'p.cjs'), '// changed\n')],
    ['a new local plugin', () => writeFileSync(path.join(root, 'serverless-plugins', 'q.cjs'), '\n')],
    ['package-lock.json', () => writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion":2}\n')],
  ])('loads again when %s changes', async (_what, change) => {
    await get();
    change();
    expect((await get()).buckets).toEqual(['b2']);
    expect(loads).toBe(2);
  });

  it('loads again for another stage or another value of an ${env:…} variable serverless.yml reads', async () => {
    await get();
    await get({ stage: 'prod' });
    expect(loads).toBe(2);
    await get({ stage: 'prod', env: { SVC_PORT: '4000' } });
    expect(loads).toBe(3);
    // A variable serverless.yml does not read changes nothing.
    await get({ stage: 'prod', env: { SVC_PORT: '4000', OTHER: 'x' } });
    expect(loads).toBe(3);
  });

  it('loads again when the saved file is cut short', async () => {
    await get();
    writeFileSync(path.join(stateDir, 'service-config.json'), '{"key":');
    await get();
    expect(loads).toBe(2);
  });
});
