import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import JSZip from 'jszip';
import { SIEVE_WASM_PATH } from '../lib/primes/wasm-kernel.ts';
import { ROWS_WASM_PATH } from '../lib/rates/row-kernel.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleCountyCsv } from '../lib/rates/sample-data.ts';
import { spawnS3ServerProcess } from '../local-stack/s3/child.ts';
import { darkPixels, decodePng } from './support/png.ts';
import { loadServiceConfig, PROJECT_ROOT, serverlessBin } from '../local-stack/service-config.ts';
import { matchesRule } from '../local-stack/s3/notifications.ts';
import { AL2023_AMI_PARAMETER } from '../lib/fanout/ec2/launcher.ts';
import {
  DEFAULT_RATES_CHUNK_BYTES,
  DEFAULT_RATES_WORKER_CONCURRENCY,
  DEFAULT_RATES_MAX_INPUT_BYTES,
  DEFAULT_RATES_PARALLEL_ABOVE_BYTES,
  loadRatesConfig,
} from '../lib/config.ts';
import { SCRATCH_PREFIX } from '../lib/rates/parallel/tasks.ts';
import { worstCaseSpillBytes } from '../lib/rates/spill.ts';
import {
  checkStatements,
  checkTemplate,
  dataBucketTlsProblem,
  policyStatements,
  render,
  scopeOfTemplate,
  unusedStarActions,
  type LocatedStatement,
  type PolicyStatement,
  type ServiceScope,
  type StarAction,
  type TemplateResource,
} from './support/iam-policy.ts';

interface Resource {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
  Properties: Record<string, any>;
  DependsOn?: string | string[];
}

let outDir: string;
let resources: Record<string, Resource>;

beforeAll(async () => {
  outDir = mkdtempSync(path.join(os.tmpdir(), 'cp-package-'));
  // The real `sls package`, offline: it must build the bundle and a valid template without AWS.
  await promisify(execFile)(process.execPath, [serverlessBin(), 'package', '--package', outDir], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
  });
  const template = JSON.parse(readFileSync(path.join(outDir, 'cloudformation-template-update-stack.json'), 'utf8'));
  resources = template.Resources;
}, 180_000);

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** The functions of serverless.yml, by name, with their logical ids in the template. */
const FUNCTIONS = {
  rates: 'RatesLambdaFunction',
  'rates-worker': 'RatesDashworkerLambdaFunction',
  'primes-worker': 'PrimesDashworkerLambdaFunction',
  'primes-fanout': 'PrimesDashfanoutLambdaFunction',
  scrape: 'ScrapeLambdaFunction',
} as const;
type FunctionName = keyof typeof FUNCTIONS;
const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/** The logical id of a function's own execution role (its `role:` compiles to Fn::GetAtt [Role, Arn]). */
function roleIdOf(fn: FunctionName): string {
  const role = resources[FUNCTIONS[fn]]!.Properties.Role;
  expect(role, `the Role of ${fn}`).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
  return role['Fn::GetAtt'][0];
}

/** The statements of a function's execution role, with Action and Resource always lists. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CloudFormation JSON is untyped
// biome-ignore lint/suspicious/noExplicitAny: IAM statements are CloudFormation JSON, read field by field in the tests
function roleStatements(fn: FunctionName): any[] {
  const role = resources[roleIdOf(fn)]!;
  expect(role.Type).toBe('AWS::IAM::Role');
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
  return role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).map(
    (s: { Action: string | string[]; Resource: unknown }) => ({
      ...s,
      Action: [s.Action].flat(),
      Resource: [s.Resource].flat(),
    }),
  );
}

/** The statements of every function's role. */
const allRoleStatements = () => FUNCTION_NAMES.flatMap((fn) => roleStatements(fn));

/** What a function's role allows: each action with every resource it is allowed on, as the IAM sweep reads them. */
function grantsOf(fn: FunctionName): Record<string, string[]> {
  const grants: Record<string, Set<string>> = {};
  for (const statement of roleStatements(fn)) {
    expect(statement.Effect, `a statement of ${fn}'s role`).toBe('Allow');
    for (const action of statement.Action as string[]) {
      for (const resource of statement.Resource as unknown[]) {
        grants[action] ??= new Set();
        grants[action].add(render(resource, 'us-east-1') ?? JSON.stringify(resource));
      }
    }
  }
  return Object.fromEntries(Object.entries(grants).map(([action, set]) => [action, [...set].sort()]));
}

/** The async invocation settings (retries, max event age, destinations) of a function, by its logical id. */
function eventInvokeConfigOf(functionLogicalId: string): Resource | undefined {
  return ofType('AWS::Lambda::EventInvokeConfig').find(
    ([, r]) => r.Properties.FunctionName?.Ref === functionLogicalId,
  )?.[1];
}

/** The one SQS queue of the stack, where failed async events land. */
function failedEventsQueue(): [string, Resource] {
  const queues = ofType('AWS::SQS::Queue');
  expect(queues).toHaveLength(1);
  return queues[0]!;
}

describe('sls package', () => {
  it('keeps the data bucket private and encrypted', () => {
    const [, bucket] = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket') ?? [];
    expect(bucket).toBeDefined();
    expect(bucket!.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(
      bucket!.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault
        .SSEAlgorithm,
    ).toBe('AES256');
  });

  it('triggers rates only for .csv and .csv.gz objects under uploads/, one configuration per suffix', () => {
    const [, bucket] = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket')!;
    const configurations = bucket.Properties.NotificationConfiguration.LambdaConfigurations;
    expect(configurations).toHaveLength(2);
    for (const [index, suffix] of ['.csv', '.csv.gz'].entries()) {
      expect(configurations[index].Event).toBe('s3:ObjectCreated:*');
      expect(configurations[index].Function['Fn::GetAtt'][0]).toBe('RatesLambdaFunction');
      expect(configurations[index].Filter.S3Key.Rules).toEqual([
        { Name: 'prefix', Value: 'uploads/' },
        { Name: 'suffix', Value: suffix },
      ]);
    }
    // S3 refuses configurations that share an event type when their filters overlap: with one prefix, two suffixes
    // overlap when one ends with the other.
    expect('.csv.gz'.endsWith('.csv') || '.csv'.endsWith('.csv.gz')).toBe(false);
    // One permission lets the bucket invoke rates, whichever configuration fires.
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, r]) => r.Properties.Principal === 's3.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    expect(permissions[0]![1].Properties.FunctionName['Fn::GetAtt'][0]).toBe('RatesLambdaFunction');
  });

  it('makes the local stack deliver .csv and .csv.gz uploads to rates once each, as S3 would', async () => {
    // The local stack reads its notification rules from serverless.yml through `sls print` (local-stack/service-config.ts).
    const config = await loadServiceConfig({ cwd: PROJECT_ROOT });
    const bucket = config.notifications[0]?.bucket ?? '';
    const deliveries = (key: string) =>
      config.notifications
        .filter((rule) => matchesRule(rule, bucket, key, 'ObjectCreated:Put'))
        .map((rule) => rule.target);
    expect(deliveries('uploads/a.csv')).toEqual([config.functions.rates]);
    expect(deliveries('uploads/2024/a.csv.gz')).toEqual([config.functions.rates]);
    for (const key of ['uploads/a.gz', 'uploads/a.csv.gz.part', 'results/a.csv.gz', 'uploads/a.tar.gz']) {
      expect(deliveries(key), key).toEqual([]);
    }
  }, 60_000);

  it('grants the functions only scoped S3 actions', () => {
    const s3Of = (fn: FunctionName) =>
      roleStatements(fn).filter((s: { Action: string[] }) => s.Action.some((a) => a.startsWith('s3:')));
    for (const statement of FUNCTION_NAMES.flatMap(s3Of)) {
      expect(statement.Action).not.toContain('s3:*');
      expect(statement.Resource).not.toContain('*');
      if (statement.Action.includes('s3:ListBucket')) {
        // Listing is on the bucket itself, so it is narrowed by prefix instead.
        expect(statement.Action).toEqual(['s3:ListBucket']);
        expect(statement.Condition).toEqual({ StringLike: { 's3:prefix': 'runs/*' } });
      } else {
        for (const resource of statement.Resource)
          expect(resource).toMatch(
            // A folder of one of the three prefixes, or one file name in every result (rates.csv, for the workers).
            /^arn:aws:s3:::cloud-parallel-dev-us-east-1-data\/(uploads|results|runs)\/(([a-z-]+\/)?\*|\*\/[a-z-]+\.csv)$/,
          );
      }
    }
    // rates reads uploads and writes results, never uploads; the primes worker only writes its prime lists; the scraper has no S3.
    const rates = s3Of('rates');
    const reads = rates.find((s: { Action: string[] }) => s.Action.includes('s3:GetObject'));
    expect(JSON.stringify(reads.Resource)).toContain('/uploads/*');
    const writes = rates.find((s: { Action: string[] }) => s.Action.includes('s3:PutObject'));
    expect(JSON.stringify(writes.Resource)).toContain('/results/*');
    expect(JSON.stringify(writes.Resource)).not.toContain('/uploads/');
    expect(s3Of('primes-worker')).toEqual([
      {
        Effect: 'Allow',
        Action: ['s3:PutObject'],
        Resource: ['arn:aws:s3:::cloud-parallel-dev-us-east-1-data/results/primes/*'],
      },
    ]);
    expect(s3Of('scrape')).toEqual([]);
    // The rates worker reads the upload and its own scratch, writes scratch and the parts of a result's rates.csv:
    // nothing else under results/, never uploads/.
    expect(s3Of('rates-worker')).toEqual([
      {
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: [
          'arn:aws:s3:::cloud-parallel-dev-us-east-1-data/uploads/*',
          'arn:aws:s3:::cloud-parallel-dev-us-east-1-data/runs/rates/*',
        ],
      },
      {
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: ['arn:aws:s3:::cloud-parallel-dev-us-east-1-data/runs/rates/*'],
      },
      {
        Effect: 'Allow',
        Action: ['s3:PutObject'],
        Resource: ['arn:aws:s3:::cloud-parallel-dev-us-east-1-data/results/*/rates.csv'],
      },
    ]);
  });

  it('lets the EC2 backend (the fan-out) launch and terminate only instances tagged with this service and stage', () => {
    const statements = roleStatements('primes-fanout');
    const actions = statements.flatMap((s: { Action: string[] }) => s.Action);
    expect([...new Set(actions.filter((a: string) => a.startsWith('ec2:')))].sort()).toEqual(
      ['ec2:CreateTags', 'ec2:DescribeInstances', 'ec2:RunInstances', 'ec2:TerminateInstances'].sort(),
    );
    const everyAction = allRoleStatements().flatMap((s: { Action: string[] }) => s.Action);
    expect(everyAction.some((a: string) => a === '*' || a.endsWith(':*') || a.startsWith('iam:'))).toBe(false);
    // No other function may touch EC2.
    expect(everyAction.filter((a: string) => a.startsWith('ec2:'))).toHaveLength(
      actions.filter((a: string) => a.startsWith('ec2:')).length,
    );
    const tagged = { 'aws:RequestTag/service': 'cloud-parallel', 'aws:RequestTag/stage': 'dev' };
    const launch = statements.filter((s: { Action: string[] }) => s.Action.includes('ec2:RunInstances'));
    const launchOf = (type: string) =>
      launch.filter((s: { Resource: unknown }) =>
        [s.Resource].flat().some((r) => typeof r === 'string' && r.endsWith(`:${type}/*`)),
      );
    // Instances: tagged, of the configured type only, and with IMDSv2 only (the backend sends HttpTokens=required).
    expect(launchOf('instance')).toHaveLength(1);
    expect(launchOf('instance')[0].Resource).toEqual(['arn:aws:ec2:us-east-1:*:instance/*']);
    expect(launchOf('instance')[0].Condition).toEqual({
      StringEquals: { ...tagged, 'ec2:InstanceType': 'c7i.large', 'ec2:MetadataHttpTokens': 'required' },
    });
    expect(resources.PrimesDashfanoutLambdaFunction!.Properties.Environment.Variables.EC2_INSTANCE_TYPE).toBe(
      'c7i.large',
    );
    // Volumes: tagged (the instance-only keys would never match a volume, so they are not in its statement).
    expect(launchOf('volume')).toHaveLength(1);
    expect(launchOf('volume')[0].Condition).toEqual({ StringEquals: tagged });
    const terminate = statements.find((s: { Action: string[] }) => s.Action.includes('ec2:TerminateInstances'));
    expect(terminate.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/service': 'cloud-parallel', 'aws:ResourceTag/stage': 'dev' },
    });
    const tags = statements.find((s: { Action: string[] }) => s.Action.includes('ec2:CreateTags'));
    expect(tags.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
    // The only wildcard resource of any role: EC2's Describe* actions accept nothing else.
    const wildcards = allRoleStatements().filter((s: { Resource: unknown }) =>
      JSON.stringify(s.Resource).includes('"*"'),
    );
    expect(wildcards.map((s: { Action: string[] }) => s.Action)).toEqual([['ec2:DescribeInstances']]);
    // Parameter Store: the fan-out reads the public AL2023 AMI parameter, the scraper its two secrets — nothing else.
    const ssmOf = (fn: FunctionName) =>
      roleStatements(fn).filter((s: { Action: string[] }) => s.Action.some((a) => a.startsWith('ssm:')));
    expect(ssmOf('primes-fanout')).toEqual([
      {
        Effect: 'Allow',
        Action: ['ssm:GetParameter'],
        Resource: [
          'arn:aws:ssm:us-east-1::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
        ],
      },
    ]);
    expect(ssmOf('scrape').map((s: { Action: string[] }) => s.Action)).toEqual([['ssm:GetParameter']]);
    // In this account (Ref AWS::AccountId), never "*": another account's parameter of the same name is not ours.
    expect(
      ssmOf('scrape')[0]
        .Resource.map((r: unknown) => render(r, 'us-east-1'))
        .sort(),
    ).toEqual([
      'arn:aws:ssm:us-east-1:{AccountId}:parameter/cloud-parallel/dev/mongodb-uri',
      'arn:aws:ssm:us-east-1:{AccountId}:parameter/cloud-parallel/dev/yelp-api-key',
    ]);
    expect(ssmOf('rates')).toEqual([]);
    expect(ssmOf('primes-worker')).toEqual([]);
  });

  it("ships the sieve's WebAssembly kernel in the primes worker package, byte for byte as built", async () => {
    const zip = await JSZip.loadAsync(readFileSync(path.join(outDir, 'primes-worker.zip')));
    const wasm = await zip.file(SIEVE_WASM_PATH)?.async('nodebuffer');
    expect(wasm, `${SIEVE_WASM_PATH} in primes-worker.zip`).toBeDefined();
    expect(wasm!.equals(readFileSync(SIEVE_WASM_PATH))).toBe(true);
  });

  it.each(['rates', 'rates-worker'])(
    "ships the rates engine's WebAssembly row kernel in the %s package, byte for byte as built",
    async (fn) => {
      const zip = await JSZip.loadAsync(readFileSync(path.join(outDir, `${fn}.zip`)));
      const wasm = await zip.file(ROWS_WASM_PATH)?.async('nodebuffer');
      expect(wasm, `${ROWS_WASM_PATH} in ${fn}.zip`).toBeDefined();
      expect(wasm!.equals(readFileSync(ROWS_WASM_PATH))).toBe(true);
    },
  );

  it('ships the EC2 worker bundle in the fan-out package and expires abandoned run scratch space', async () => {
    const zip = await JSZip.loadAsync(readFileSync(path.join(outDir, 'primes-fanout.zip')));
    const bundle = await zip.file('.ec2-workers/primes.mjs')?.async('string');
    expect(bundle).toBeDefined();
    expect(bundle).toMatch(/export\s*\{[^}]*\brun\b/);
    // Each run's timeline chart is rendered in the fan-out: the native renderer and the font ship with it.
    expect(zip.file('node_modules/dejavu-fonts-ttf/ttf/DejaVuSans.ttf')).not.toBeNull();
    expect(Object.keys(zip.files).some((name) => name.startsWith('node_modules/@resvg/resvg-js'))).toBe(true);
    const [, bucket] = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket')!;
    const rules = bucket.Properties.LifecycleConfiguration.Rules;
    expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'runs/', ExpirationInDays: 1, Status: 'Enabled' }));
  });

  it('lets the fan-out and the rates coordinator invoke only their own workers, and keeps the nightly run disabled unless a stage enables it', () => {
    const invokeOf = (fn: FunctionName) =>
      roleStatements(fn).filter((s: { Action: string[] }) => s.Action.some((a) => a.startsWith('lambda:')));
    for (const [fn, worker] of [
      ['primes-fanout', 'PrimesDashworkerLambdaFunction'],
      ['rates', 'RatesDashworkerLambdaFunction'],
    ] as const) {
      const invoke = invokeOf(fn);
      expect(invoke, fn).toHaveLength(1);
      expect(invoke[0].Action).toEqual(['lambda:InvokeFunction']);
      expect(invoke[0].Resource).toEqual([{ 'Fn::GetAtt': [worker, 'Arn'] }]);
    }
    // And no other function may invoke anything: the workers invoke nothing.
    expect(
      allRoleStatements().filter((s: { Action: string[] }) => s.Action.some((a) => a.startsWith('lambda:'))),
    ).toHaveLength(2);

    const ruleFor = (fn: string) =>
      ofType('AWS::Events::Rule').find(([, r]) => r.Properties.Targets[0].Arn['Fn::GetAtt'][0] === fn)![1];
    const rule = ruleFor('PrimesDashfanoutLambdaFunction');
    expect(rule.Properties.State).toBe('DISABLED');
    expect(rule.Properties.ScheduleExpression).toMatch(/^cron\(/);
    expect(JSON.parse(rule.Properties.Targets[0].Input)).toEqual({
      start: 100000000,
      end: 101000000,
      chunks: 4,
      backend: 'lambda',
    });
    // The nightly scrape: the seed's 4 cities × 20, also disabled unless a stage enables it.
    const scrape = ruleFor('ScrapeLambdaFunction');
    expect(scrape.Properties.State).toBe('DISABLED');
    const input = JSON.parse(scrape.Properties.Targets[0].Input);
    expect(input).toMatchObject({ source: 'yelp', limit: 20 });
    expect(input.cities).toHaveLength(4);
  });

  it('retries a failed rates run twice, for up to 6 hours, then sends its S3 event to the failed-events queue', () => {
    const [queueId] = failedEventsQueue();
    const config = eventInvokeConfigOf('RatesLambdaFunction');
    expect(config).toBeDefined();
    expect(config!.Properties.Qualifier).toBe('$LATEST');
    expect(config!.Properties.MaximumRetryAttempts).toBe(2);
    expect(config!.Properties.MaximumEventAgeInSeconds).toBe(21600);
    expect(config!.Properties.DestinationConfig).toEqual({
      OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } },
    });
  });

  it('keeps failed events encrypted (SSE-SQS) for 14 days', () => {
    const [, queue] = failedEventsQueue();
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(queue.Properties.KmsMasterKeyId).toBeUndefined(); // SSE-KMS would also need kms:* grants
    expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('lets each function with an on-failure destination send messages only to the failed-events queue, and do nothing else with SQS', () => {
    const [queueId] = failedEventsQueue();
    const withDestination = FUNCTION_NAMES.filter(
      (fn) => eventInvokeConfigOf(FUNCTIONS[fn])?.Properties.DestinationConfig?.OnFailure !== undefined,
    );
    expect(withDestination).toEqual(['rates', 'primes-fanout', 'scrape']);
    for (const fn of FUNCTION_NAMES) {
      // The framework grants nothing to a custom role: each destination's grant is in the function's own role.
      const sqs = roleStatements(fn).filter((s: { Action: string[] }) =>
        s.Action.some((a) => a.toLowerCase().startsWith('sqs:') || a === '*'),
      );
      if (!withDestination.includes(fn)) {
        expect(sqs, fn).toEqual([]);
        continue;
      }
      expect(eventInvokeConfigOf(FUNCTIONS[fn])!.Properties.DestinationConfig.OnFailure.Destination).toEqual({
        'Fn::GetAtt': [queueId, 'Arn'],
      });
      // One queue, by its ARN: never "*" nor a pattern of queue names.
      expect(sqs, fn).toEqual([
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: [{ 'Fn::GetAtt': [queueId, 'Arn'] }] },
      ]);
    }
  });

  it('never retries the nightly fan-out, retries the idempotent nightly scrape once, and keeps both failures', () => {
    const [queueId] = failedEventsQueue();
    const fanout = eventInvokeConfigOf('PrimesDashfanoutLambdaFunction');
    expect(fanout).toBeDefined();
    // 0 must be explicit: without it Lambda retries an async invocation twice, relaunching the whole run.
    expect(fanout!.Properties.MaximumRetryAttempts).toBe(0);
    expect(fanout!.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
    const scrape = eventInvokeConfigOf('ScrapeLambdaFunction');
    expect(scrape).toBeDefined();
    expect(scrape!.Properties.MaximumRetryAttempts).toBe(1);
    expect(scrape!.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
    // The workers are invoked synchronously by their coordinators: async settings would not apply to them.
    expect(eventInvokeConfigOf('PrimesDashworkerLambdaFunction')).toBeUndefined();
    expect(eventInvokeConfigOf('RatesDashworkerLambdaFunction')).toBeUndefined();
  });

  it('deploys the rates worker for the parallel path: one vCPU, 120 s, no trigger, and the coordinator told its name and knobs', () => {
    const worker = resources.RatesDashworkerLambdaFunction!.Properties;
    expect(worker.Handler).toBe('functions/rates-worker.handler');
    expect(worker.MemorySize).toBe(1769);
    expect(worker.Timeout).toBe(120);
    // Only the coordinator starts it: no S3 notification, schedule, permission or async config names it (its
    // published version does, and the coordinator's role).
    const mentions = Object.entries(resources)
      .filter(([id, r]) => id !== 'RatesExecutionRole' && r.Type !== 'AWS::Lambda::Version')
      .filter(([id, r]) => id !== 'RatesDashworkerLambdaFunction' && JSON.stringify(r).includes('RatesDashworker'))
      .map(([id]) => id);
    expect(mentions).toEqual([]);
    const env = resources.RatesLambdaFunction!.Properties.Environment.Variables;
    expect(env.RATES_WORKER_FUNCTION).toBe(worker.FunctionName);
    expect(env.RATES_WORKER_TIMEOUT_SECONDS).toBe(String(worker.Timeout));
    // The params' defaults are the library's, so a deployment and a library caller split alike.
    const parallel = loadRatesConfig({ ...env, DATA_BUCKET: 'b-1' }).parallel;
    expect(parallel).toEqual({
      workerFunction: 'cloud-parallel-dev-rates-worker',
      workerTimeoutSeconds: 120,
      aboveBytes: DEFAULT_RATES_PARALLEL_ABOVE_BYTES,
      chunkBytes: DEFAULT_RATES_CHUNK_BYTES,
      concurrency: DEFAULT_RATES_WORKER_CONCURRENCY,
    });
    // Its scratch is under the prefix the bucket expires after a day (a run cut short leaves nothing for long).
    const [, bucket] = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket')!;
    const expiring = bucket.Properties.LifecycleConfiguration.Rules.filter(
      (r: { Prefix?: string; ExpirationInDays?: number }) => r.ExpirationInDays === 1 && r.Prefix !== undefined,
    );
    expect(expiring.some((r: { Prefix: string }) => SCRATCH_PREFIX.startsWith(r.Prefix))).toBe(true);
  });

  it('gives the rates function the /tmp that the worst-case spill of its largest input needs', () => {
    const [, fn] = ofType('AWS::Lambda::Function').find(([id]) => id === 'RatesLambdaFunction')!;
    const limit = Number(fn.Properties.Environment.Variables.RATES_MAX_INPUT_BYTES);
    expect(limit).toBe(DEFAULT_RATES_MAX_INPUT_BYTES);
    const size = fn.Properties.EphemeralStorage?.Size;
    expect(size, 'EphemeralStorage.Size of the rates function (MB)').toBeTypeOf('number');
    expect(size).toBeLessThanOrEqual(10_240); // Lambda's maximum
    // MB counted as 10^6 bytes (the smaller reading of Lambda's unit), less 512 MiB left to the runtime and the file
    // system: 8,589,934,592 bytes of spill for 4 GiB must still fit.
    const usable = size * 1e6 - 512 * 1024 ** 2;
    expect(worstCaseSpillBytes(limit)).toBe(8 * 1024 ** 3);
    expect(worstCaseSpillBytes(limit), `worst-case spill of ${limit} bytes vs ${size} MB of /tmp`).toBeLessThanOrEqual(
      usable,
    );
  });

  it('targets the nodejs22.x runtime and bundles the handler with the native chart renderer', () => {
    const [, fn] = ofType('AWS::Lambda::Function').find(([id]) => id === 'RatesLambdaFunction')!;
    expect(fn.Properties.Runtime).toBe('nodejs22.x');
    expect(fn.Properties.Handler).toBe('functions/rates.handler');
  });
});

const DATA_BUCKET_ARN = 'arn:aws:s3:::cloud-parallel-dev-us-east-1-data';
const FAILED_EVENTS_QUEUE = '{GetAtt:FailedEventsQueue.Arn}';
const EC2_ARN = 'arn:aws:ec2:us-east-1:*';
/** A function's own log group: creating its streams, and writing to them (as the framework's grant, per function). */
const ownLogs = (fn: FunctionName) => {
  const group = `arn:aws:logs:us-east-1:{AccountId}:log-group:/aws/lambda/cloud-parallel-dev-${fn}:*`;
  return { 'logs:CreateLogStream': [group], 'logs:PutLogEvents': [`${group}:*`] };
};

/**
 * Exactly what each function's role allows: every action, with every resource it is allowed on (as the sweep reads
 * them; Conditions are checked by the tests above). What the code sends, and nothing else: add a grant here and in
 * serverless.yml together, with the code that needs it.
 */
const GRANTS: Record<FunctionName, Record<string, string[]>> = {
  // Reads the upload and the previous summary.json, streams rates.csv up (multipart: aborted when the run fails),
  // replaces the outputs under results/<name>/; failed events go to the queue. A big upload it splits: it invokes
  // rates-worker, reads the chunks' scratch (UploadPartCopy into rates.csv), writes its progress object there and
  // deletes the scratch at the end.
  rates: {
    ...ownLogs('rates'),
    'lambda:InvokeFunction': ['{GetAtt:RatesDashworkerLambdaFunction.Arn}'],
    's3:GetObject': [`${DATA_BUCKET_ARN}/results/*`, `${DATA_BUCKET_ARN}/runs/rates/*`, `${DATA_BUCKET_ARN}/uploads/*`],
    's3:PutObject': [`${DATA_BUCKET_ARN}/results/*`, `${DATA_BUCKET_ARN}/runs/rates/*`],
    's3:DeleteObject': [`${DATA_BUCKET_ARN}/results/*`, `${DATA_BUCKET_ARN}/runs/rates/*`],
    's3:AbortMultipartUpload': [`${DATA_BUCKET_ARN}/results/*`],
    'sqs:SendMessage': [FAILED_EVENTS_QUEUE],
  },
  // Parses one byte range of the upload (ranged GETs), or one statistics round from its chunk's values; writes the
  // chunk's outputs as multipart uploads under runs/rates/ (aborted when the task fails). Invoked synchronously.
  'rates-worker': {
    ...ownLogs('rates-worker'),
    's3:GetObject': [`${DATA_BUCKET_ARN}/runs/rates/*`, `${DATA_BUCKET_ARN}/uploads/*`],
    's3:PutObject': [`${DATA_BUCKET_ARN}/results/*/rates.csv`, `${DATA_BUCKET_ARN}/runs/rates/*`],
    's3:AbortMultipartUpload': [`${DATA_BUCKET_ARN}/runs/rates/*`],
  },
  // Writes a prime list too big for its reply; invoked synchronously, so no destination.
  'primes-worker': {
    ...ownLogs('primes-worker'),
    's3:PutObject': [`${DATA_BUCKET_ARN}/results/primes/*`],
  },
  // Invokes the worker (Lambda backend), or launches, polls and terminates instances with their scratch space
  // under runs/ (EC2 backend); writes each run's timeline and summary under results/primes/; failed events go to
  // the queue.
  'primes-fanout': {
    ...ownLogs('primes-fanout'),
    'lambda:InvokeFunction': ['{GetAtt:PrimesDashworkerLambdaFunction.Arn}'],
    's3:PutObject': [`${DATA_BUCKET_ARN}/results/primes/*`, `${DATA_BUCKET_ARN}/runs/*`],
    's3:GetObject': [`${DATA_BUCKET_ARN}/runs/*`],
    's3:DeleteObject': [`${DATA_BUCKET_ARN}/runs/*`],
    's3:ListBucket': [DATA_BUCKET_ARN],
    'ec2:RunInstances': [
      `${EC2_ARN}:instance/*`,
      `${EC2_ARN}:network-interface/*`,
      `${EC2_ARN}:security-group/*`,
      `${EC2_ARN}:subnet/*`,
      `${EC2_ARN}:volume/*`,
      'arn:aws:ec2:us-east-1::image/*',
    ],
    'ec2:CreateTags': [`${EC2_ARN}:instance/*`, `${EC2_ARN}:volume/*`],
    'ec2:TerminateInstances': [`${EC2_ARN}:instance/*`],
    'ec2:DescribeInstances': ['*'],
    'ssm:GetParameter': [`arn:aws:ssm:us-east-1::parameter${AL2023_AMI_PARAMETER}`],
    'sqs:SendMessage': [FAILED_EVENTS_QUEUE],
  },
  // Reads its two secrets; MongoDB and the APIs are outside AWS. Failed events go to the queue.
  scrape: {
    ...ownLogs('scrape'),
    'ssm:GetParameter': [
      'arn:aws:ssm:us-east-1:{AccountId}:parameter/cloud-parallel/dev/mongodb-uri',
      'arn:aws:ssm:us-east-1:{AccountId}:parameter/cloud-parallel/dev/yelp-api-key',
    ],
    'sqs:SendMessage': [FAILED_EVENTS_QUEUE],
  },
};

/** The cycles of the template's dependency graph (Ref, Fn::GetAtt, Fn::Sub names and DependsOn), each as a path. */
function dependencyCycles(all: Record<string, Resource>): string[] {
  const referenced = (value: unknown, into: Set<string>): void => {
    if (Array.isArray(value)) for (const v of value) referenced(v, into);
    else if (typeof value === 'object' && value !== null) {
      const v = value as Record<string, unknown>;
      if (typeof v.Ref === 'string' && v.Ref in all) into.add(v.Ref);
      const getAtt = v['Fn::GetAtt'];
      const target = Array.isArray(getAtt) ? getAtt[0] : typeof getAtt === 'string' ? getAtt.split('.')[0] : undefined;
      if (typeof target === 'string' && target in all) into.add(target);
      const sub = v['Fn::Sub'];
      for (const m of typeof sub === 'string' ? sub.matchAll(/\$\{([^}.!]+)/g) : []) if (m[1]! in all) into.add(m[1]!);
      for (const x of Object.values(v)) referenced(x, into);
    }
  };
  const edges = new Map(
    Object.entries(all).map(([id, r]) => {
      const into = new Set([r.DependsOn ?? []].flat());
      referenced(r.Properties, into);
      return [id, [...into]] as const;
    }),
  );
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (id: string, path: string[]): void => {
    if (state.get(id) === 'open') cycles.push([...path.slice(path.indexOf(id)), id].join(' -> '));
    if (state.has(id)) return;
    state.set(id, 'open');
    for (const next of edges.get(id) ?? []) visit(next, [...path, id]);
    state.set(id, 'done');
  };
  for (const id of edges.keys()) visit(id, []);
  return cycles;
}

describe('one execution role per function', () => {
  it.each(FUNCTION_NAMES)('%s: its role grants exactly the actions its code needs, on exactly its resources', (fn) => {
    // The log group the role may write is this function's: its name is the function's.
    expect(resources[FUNCTIONS[fn]]!.Properties.FunctionName).toBe(`cloud-parallel-dev-${fn}`);
    const grants = grantsOf(fn);
    expect(Object.keys(grants).sort(), `the actions of ${fn}'s role`).toEqual(Object.keys(GRANTS[fn]).sort());
    const expected = Object.fromEntries(Object.entries(GRANTS[fn]).map(([action, on]) => [action, [...on].sort()]));
    expect(grants, `the resources of ${fn}'s role`).toEqual(expected);
  });

  it('shares no role between two functions, and the stack has no other role', () => {
    const roleIds = FUNCTION_NAMES.map(roleIdOf);
    expect(new Set(roleIds).size).toBe(FUNCTION_NAMES.length);
    expect(
      ofType('AWS::IAM::Role')
        .map(([id]) => id)
        .sort(),
    ).toEqual([...roleIds].sort());
    expect(resources.IamRoleLambdaExecution).toBeUndefined(); // the framework's shared role
    for (const [fn, roleId] of FUNCTION_NAMES.map((fn, i) => [fn, roleIds[i]!] as const)) {
      const role = resources[roleId]!;
      // A literal name (`sls deploy function` builds the ARN from it) with the service-stage prefix, and the
      // region: role names are global to the account. IAM allows 64 characters.
      expect(role.Properties.RoleName).toBe(`cloud-parallel-dev-us-east-1-${fn}`);
      expect(role.Properties.RoleName.length).toBeLessThanOrEqual(64);
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      // Only Lambda may assume it.
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
      ]);
      // The function is created after its role and its log group.
      expect([resources[FUNCTIONS[fn]]!.DependsOn].flat()).toEqual(
        expect.arrayContaining([roleId, FUNCTIONS[fn].replace(/LambdaFunction$/, 'LogGroup')]),
      );
    }
  });

  it('has no dependency cycle (one role shared by the fan-out and the worker it invokes made one)', () => {
    expect(dependencyCycles(resources)).toEqual([]);
    // The checker does see that cycle.
    const shared = {
      Role: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Policies: [{ PolicyDocument: { Statement: [{ Resource: { 'Fn::GetAtt': ['Worker', 'Arn'] } }] } }],
        },
      },
      Worker: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['Role', 'Arn'] } } },
    };
    expect(dependencyCycles(shared)).toEqual(['Role -> Worker -> Role']);
  });
});

/**
 * The actions AWS authorizes only on Resource "*" (no resource-level permissions), each with why this service
 * needs it. The sweep below refuses "*" for any other action, and fails when an entry here is no longer used.
 */
const STAR_ACTIONS: readonly StarAction[] = [
  {
    action: 'ec2:DescribeInstances',
    reason:
      'EC2 Describe* actions support no resource-level permissions; the EC2 backend polls the states of the instances it launched',
  },
];

/**
 * Violations of the real template that are reported and wait for a serverless.yml change (the lead merges
 * serverless.yml). The sweep fails on any violation not listed here, and on an entry here that no longer has
 * one: delete the entry together with the fix.
 */
const OPEN_FINDINGS: readonly { statement: string; issue: string }[] = [];

/** This service's scope in the packaged template: the default stage and region of serverless.yml. */
function serviceScope(): ServiceScope {
  // The SSM parameters it reads: those the functions are told to read (params mongodbUriParameter and
  // yelpApiKeyParameter), and the public AL2023 AMI parameter the EC2 backend looks up.
  const named = ofType('AWS::Lambda::Function').flatMap(([, fn]) =>
    Object.entries((fn.Properties.Environment?.Variables ?? {}) as Record<string, string>)
      .filter(([name]) => name.endsWith('_PARAMETER'))
      .map(([, value]) => value),
  );
  expect(named.sort()).toEqual(['/cloud-parallel/dev/mongodb-uri', '/cloud-parallel/dev/yelp-api-key']);
  return scopeOfTemplate(resources, {
    service: 'cloud-parallel',
    stage: 'dev',
    region: 'us-east-1',
    ssmParameters: [...named, AL2023_AMI_PARAMETER],
    starActions: STAR_ACTIONS,
    // The type the fan-out is configured to launch (param ec2InstanceType).
    ec2InstanceTypes: [resources.PrimesDashfanoutLambdaFunction!.Properties.Environment.Variables.EC2_INSTANCE_TYPE],
  });
}

/** A hand-made scope for the synthetic statements: no template needed. */
const syntheticScope: ServiceScope = {
  service: 'svc',
  stage: 'dev',
  region: 'us-east-1',
  dataBucket: { logicalId: 'S3BucketData', name: 'svc-dev-data' },
  ownLogicalIds: new Set(['WorkerLambdaFunction', 'FailedEventsQueue']),
  ssmParameters: ['/svc/dev/api-key'],
  starActions: [{ action: 'ec2:DescribeInstances', reason: 'Describe* accepts only "*"' }],
  ec2InstanceTypes: ['c7i.large'],
};

/** The TLS rule of a bucket policy: every S3 action by anyone, without TLS, is denied. */
const TLS_DENY: PolicyStatement = {
  Sid: 'DenyInsecureTransport',
  Effect: 'Deny',
  Principal: '*',
  Action: 's3:*',
  Resource: ['arn:aws:s3:::svc-dev-data', 'arn:aws:s3:::svc-dev-data/*'],
  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
};

/** A template with the data bucket and a bucket policy of these statements. */
const bucketWith = (...statements: PolicyStatement[]): Record<string, TemplateResource> => ({
  S3BucketData: { Type: 'AWS::S3::Bucket', Properties: { BucketName: 'svc-dev-data' } },
  ...(statements.length === 0
    ? {}
    : {
        DataBucketPolicy: {
          Type: 'AWS::S3::BucketPolicy',
          Properties: { Bucket: { Ref: 'S3BucketData' }, PolicyDocument: { Statement: statements } },
        },
      }),
});

/** Launching an instance as the fan-out does; a case replaces parts of the Condition. */
const launchInstance = (condition: Record<string, unknown>): PolicyStatement => ({
  Effect: 'Allow',
  Action: 'ec2:RunInstances',
  Resource: 'arn:aws:ec2:us-east-1:*:instance/*',
  Condition: { StringEquals: { 'aws:RequestTag/service': 'svc', 'aws:RequestTag/stage': 'dev', ...condition } },
});

/** A one-statement identity policy, as the template would hold it. */
const policyWith = (statement: PolicyStatement): Record<string, TemplateResource> => ({
  SyntheticPolicy: {
    Type: 'AWS::IAM::Policy',
    Properties: { PolicyName: 'synthetic', PolicyDocument: { Version: '2012-10-17', Statement: [statement] } },
  },
});

/** Bad statements and templates, and the violation each must produce (action, resource, and part of the problem). */
const BAD_CASES: {
  name: string;
  resources: Record<string, TemplateResource>;
  action: string;
  resource: string;
  problem: string;
}[] = [
  {
    name: 'Action "*"',
    resources: policyWith({ Effect: 'Allow', Action: '*', Resource: 'arn:aws:s3:::svc-dev-data/results/*' }),
    action: '*',
    resource: 'arn:aws:s3:::svc-dev-data/results/*',
    problem: 'wildcard action',
  },
  {
    name: 'a service-wide "s3:*"',
    resources: policyWith({
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:*'],
      Resource: 'arn:aws:s3:::svc-dev-data/uploads/*',
    }),
    action: 's3:*',
    resource: 'arn:aws:s3:::svc-dev-data/uploads/*',
    problem: 'wildcard action',
  },
  {
    name: 'a partial wildcard "s3:Get*"',
    resources: policyWith({ Effect: 'Allow', Action: 's3:Get*', Resource: 'arn:aws:s3:::svc-dev-data/uploads/*' }),
    action: 's3:Get*',
    resource: 'arn:aws:s3:::svc-dev-data/uploads/*',
    problem: 'wildcard action',
  },
  {
    name: 's3:GetObject on Resource "*"',
    resources: policyWith({ Sid: 'ReadEverything', Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }),
    action: 's3:GetObject',
    resource: '*',
    problem: 'Resource "*"',
  },
  {
    name: 'NotAction',
    resources: policyWith({ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' }),
    action: 'NotAction iam:*',
    resource: '*',
    problem: 'NotAction',
  },
  {
    name: 'NotAction in a Deny',
    resources: policyWith({ Effect: 'Deny', NotAction: 's3:GetObject', Resource: 'arn:aws:s3:::svc-dev-data/*' }),
    action: 'NotAction s3:GetObject',
    resource: 'arn:aws:s3:::svc-dev-data/*',
    problem: 'NotAction',
  },
  {
    name: 'another bucket',
    resources: policyWith({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::someone-elses-bucket/*' }),
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::someone-elses-bucket/*',
    problem: 'is not the data bucket',
  },
  {
    name: "another stage's function",
    resources: policyWith({
      Effect: 'Allow',
      Action: 'lambda:InvokeFunction',
      Resource: 'arn:aws:lambda:us-east-1:*:function:svc-prod-worker',
    }),
    action: 'lambda:InvokeFunction',
    resource: 'arn:aws:lambda:us-east-1:*:function:svc-prod-worker',
    problem: 'not a function of this service',
  },
  {
    name: 'a resource of another stack by Ref',
    resources: policyWith({
      Effect: 'Allow',
      Action: 'sqs:SendMessage',
      Resource: { 'Fn::GetAtt': ['SomeOtherQueue', 'Arn'] },
    }),
    action: 'sqs:SendMessage',
    resource: '{"Fn::GetAtt":["SomeOtherQueue","Arn"]}',
    problem: 'SomeOtherQueue is not',
  },
  {
    name: 'an SSM parameter path wildcard',
    resources: policyWith({
      Effect: 'Allow',
      Action: 'ssm:GetParameter',
      Resource: 'arn:aws:ssm:us-east-1:*:parameter/svc/dev/*',
    }),
    action: 'ssm:GetParameter',
    resource: 'arn:aws:ssm:us-east-1:*:parameter/svc/dev/*',
    problem: 'not one of the SSM parameters',
  },
  {
    name: 'another region',
    resources: policyWith({
      Effect: 'Allow',
      Action: 'ssm:GetParameter',
      Resource: 'arn:aws:ssm:*:*:parameter/svc/dev/api-key',
    }),
    action: 'ssm:GetParameter',
    resource: 'arn:aws:ssm:*:*:parameter/svc/dev/api-key',
    problem: 'region "*"',
  },
  {
    name: 'a service with no scope rule (iam:PassRole)',
    resources: policyWith({
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: 'arn:aws:iam::123456789012:role/admin',
    }),
    action: 'iam:PassRole',
    resource: 'arn:aws:iam::123456789012:role/admin',
    problem: 'no rule says which iam resources',
  },
  {
    name: 'ec2:TerminateInstances with no Condition',
    resources: policyWith({
      Effect: 'Allow',
      Action: 'ec2:TerminateInstances',
      Resource: 'arn:aws:ec2:us-east-1:*:instance/*',
    }),
    action: 'ec2:TerminateInstances',
    resource: 'arn:aws:ec2:us-east-1:*:instance/*',
    problem: 'allowed without a Condition',
  },
  {
    name: 'ec2:RunInstances tagged for another stage',
    resources: policyWith({
      Effect: 'Allow',
      Action: 'ec2:RunInstances',
      Resource: 'arn:aws:ec2:us-east-1:*:instance/*',
      Condition: { StringEquals: { 'aws:RequestTag/service': 'svc', 'aws:RequestTag/stage': 'prod' } },
    }),
    action: 'ec2:RunInstances',
    resource: 'arn:aws:ec2:us-east-1:*:instance/*',
    problem: 'any instance of the region',
  },
  {
    name: 'an SSM parameter of any account',
    resources: policyWith({
      Effect: 'Allow',
      Action: 'ssm:GetParameter',
      Resource: 'arn:aws:ssm:us-east-1:*:parameter/svc/dev/api-key',
    }),
    action: 'ssm:GetParameter',
    resource: 'arn:aws:ssm:us-east-1:*:parameter/svc/dev/api-key',
    problem: 'name this account',
  },
  {
    name: 'ec2:RunInstances of any instance type',
    resources: policyWith(launchInstance({ 'ec2:MetadataHttpTokens': 'required' })),
    action: 'ec2:RunInstances',
    resource: 'arn:aws:ec2:us-east-1:*:instance/*',
    problem: 'instance type not limited (StringEquals ec2:InstanceType) to the configured c7i.large',
  },
  {
    name: 'ec2:RunInstances of an instance type not configured',
    resources: policyWith(
      launchInstance({ 'ec2:InstanceType': ['c7i.large', 'p5.48xlarge'], 'ec2:MetadataHttpTokens': 'required' }),
    ),
    action: 'ec2:RunInstances',
    resource: 'arn:aws:ec2:us-east-1:*:instance/*',
    problem: 'got ["c7i.large","p5.48xlarge"]',
  },
  {
    name: 'ec2:RunInstances without IMDSv2',
    resources: policyWith(launchInstance({ 'ec2:InstanceType': 'c7i.large', 'ec2:MetadataHttpTokens': 'optional' })),
    action: 'ec2:RunInstances',
    resource: 'arn:aws:ec2:us-east-1:*:instance/*',
    problem: 'IMDSv2 not required',
  },
  {
    name: 'the data bucket without a TLS policy',
    resources: bucketWith(),
    action: 's3:*',
    resource: 'arn:aws:s3:::svc-dev-data',
    problem: 'no bucket policy denies requests without TLS on the bucket and objects',
  },
  {
    name: 'a TLS policy that leaves the bucket itself out',
    resources: bucketWith({ ...TLS_DENY, Resource: 'arn:aws:s3:::svc-dev-data/*' }),
    action: 's3:*',
    resource: 'arn:aws:s3:::svc-dev-data',
    problem: 'without TLS on the bucket (',
  },
  {
    name: 'a TLS policy for only some actions',
    resources: bucketWith({ ...TLS_DENY, Action: 's3:GetObject' }),
    action: 's3:*',
    resource: 'arn:aws:s3:::svc-dev-data',
    problem: 'no bucket policy denies requests without TLS',
  },
  {
    name: 'a public Deny that is not the TLS rule',
    resources: bucketWith(TLS_DENY, {
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:DeleteObject',
      Resource: 'arn:aws:s3:::svc-dev-data/*',
      Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-1' } },
    }),
    action: 's3:DeleteObject',
    resource: 'arn:aws:s3:::svc-dev-data/*',
    problem: 'in a Deny that is not the TLS rule',
  },
  {
    name: 'a public Allow conditioned on TLS',
    resources: bucketWith(TLS_DENY, {
      Effect: 'Allow',
      Principal: '*',
      Action: 's3:GetObject',
      Resource: 'arn:aws:s3:::svc-dev-data/*',
      Condition: { Bool: { 'aws:SecureTransport': 'true' } },
    }),
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::svc-dev-data/*',
    problem: 'public',
  },
  {
    name: 'a bucket policy granting Principal "*"',
    resources: {
      DataBucketPolicy: {
        Type: 'AWS::S3::BucketPolicy',
        Properties: {
          Bucket: { Ref: 'S3BucketData' },
          PolicyDocument: {
            Statement: [
              {
                Effect: 'Allow',
                Principal: '*',
                Action: 's3:GetObject',
                Resource: 'arn:aws:s3:::svc-dev-data/results/*',
              },
            ],
          },
        },
      },
    },
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::svc-dev-data/results/*',
    problem: 'public',
  },
  {
    name: 'a Lambda permission for Principal "*"',
    resources: {
      PublicPermission: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunction',
          Principal: '*',
          FunctionName: { 'Fn::GetAtt': ['WorkerLambdaFunction', 'Arn'] },
        },
      },
    },
    action: 'lambda:InvokeFunction',
    resource: '{"Fn::GetAtt":["WorkerLambdaFunction","Arn"]}',
    problem: 'public',
  },
  {
    name: 'a Lambda permission for a service with no source',
    resources: {
      S3Permission: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunction',
          Principal: 's3.amazonaws.com',
          FunctionName: { 'Fn::GetAtt': ['WorkerLambdaFunction', 'Arn'] },
        },
      },
    },
    action: 'lambda:InvokeFunction',
    resource: '{"Fn::GetAtt":["WorkerLambdaFunction","Arn"]}',
    problem: 'without aws:SourceArn or aws:SourceAccount',
  },
  {
    name: 'a function URL',
    resources: {
      WorkerUrl: {
        Type: 'AWS::Lambda::Url',
        Properties: { AuthType: 'NONE', TargetFunctionArn: { 'Fn::GetAtt': ['WorkerLambdaFunction', 'Arn'] } },
      },
    },
    action: 'lambda:InvokeFunctionUrl',
    resource: '{"Fn::GetAtt":["WorkerLambdaFunction","Arn"]}',
    problem: 'no public URLs',
  },
  {
    name: 'a managed policy on a role',
    resources: {
      Role: {
        Type: 'AWS::IAM::Role',
        Properties: { ManagedPolicyArns: ['arn:aws:iam::aws:policy/AdministratorAccess'] },
      },
    },
    action: '(managed policy)',
    resource: 'arn:aws:iam::aws:policy/AdministratorAccess',
    problem: 'cannot check them',
  },
];

/** Statements the sweep must accept: it fails on what is wrong, not on everything. */
const GOOD_CASES: { name: string; statement: PolicyStatement }[] = [
  {
    name: 'objects under a prefix of the data bucket',
    statement: { Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::svc-dev-data/uploads/*' },
  },
  {
    name: 'the own queue by GetAtt',
    statement: { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['FailedEventsQueue', 'Arn'] } },
  },
  {
    name: 'an allow-listed action on "*"',
    statement: { Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' },
  },
  {
    name: 'launching instances of the configured type with IMDSv2, tagged with this service and stage',
    statement: launchInstance({ 'ec2:InstanceType': 'c7i.large', 'ec2:MetadataHttpTokens': 'required' }),
  },
  {
    name: 'their volumes, tagged with this service and stage',
    statement: {
      Effect: 'Allow',
      Action: 'ec2:RunInstances',
      Resource: 'arn:aws:ec2:us-east-1:*:volume/*',
      Condition: { StringEquals: { 'aws:RequestTag/service': 'svc', 'aws:RequestTag/stage': 'dev' } },
    },
  },
  {
    name: 'an SSM parameter of this account',
    statement: {
      Effect: 'Allow',
      Action: 'ssm:GetParameter',
      Resource: { 'Fn::Sub': 'arn:aws:ssm:us-east-1:${AWS::AccountId}:parameter/svc/dev/api-key' },
    },
  },
  {
    name: 'a Deny of every action without TLS',
    statement: { Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': false } } },
  },
];

describe('least privilege: every IAM policy statement of the template', () => {
  it.each(BAD_CASES)(
    'the sweep flags $name, naming the statement, action and resource',
    ({ resources: bad, action, resource, problem }) => {
      const violations = checkTemplate(bad, syntheticScope);
      expect(violations).toContainEqual(
        expect.objectContaining({ action, resource, problem: expect.stringContaining(problem) }),
      );
      for (const v of violations) expect(v.message).toContain(`${v.action} on ${v.resource}: ${v.problem}`);
    },
  );

  it('the sweep names a statement by its Sid, else by its index', () => {
    const [bySid] = checkTemplate(
      policyWith({ Sid: 'ReadEverything', Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }),
      syntheticScope,
    );
    expect(bySid?.message).toMatch(
      /^SyntheticPolicy \(AWS::IAM::Policy\), statement Sid ReadEverything: s3:GetObject on \*: Resource "\*"/,
    );
    const [byIndex] = checkTemplate(
      policyWith({ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::svc-dev-data/x' }),
      syntheticScope,
    );
    expect(byIndex?.message).toMatch(
      /^SyntheticPolicy \(AWS::IAM::Policy\), statement #0: s3:\* on arn:aws:s3:::svc-dev-data\/x: wildcard action/,
    );
  });

  it.each(GOOD_CASES)('the sweep accepts $name', ({ statement }) => {
    expect(checkTemplate(policyWith(statement), syntheticScope)).toEqual([]);
  });

  it('the sweep accepts the data bucket with its TLS rule (Principal "*" in that Deny only), by name or by Ref', () => {
    expect(checkTemplate(bucketWith(TLS_DENY), syntheticScope)).toEqual([]);
    const byRef = {
      ...TLS_DENY,
      Resource: [
        { 'Fn::Sub': 'arn:aws:s3:::${S3BucketData}' },
        { 'Fn::Join': ['', ['arn:aws:s3:::', { Ref: 'S3BucketData' }, '/*']] },
      ],
      Condition: { Bool: { 'aws:SecureTransport': false } },
    };
    expect(checkTemplate(bucketWith(byRef), syntheticScope)).toEqual([]);
  });

  it('the real template fails the sweep when any of the TLS rule, the launch conditions or the account of the SSM parameters goes', () => {
    const scope = serviceScope();
    const statementsOf = (id: string) =>
      resources[id]!.Properties.Policies[0].PolicyDocument.Statement as PolicyStatement[];
    const withStatements = (id: string, edit: (statements: PolicyStatement[]) => PolicyStatement[]) => {
      const copy = structuredClone(resources) as Record<string, Resource>;
      copy[id]!.Properties.Policies[0].PolicyDocument.Statement = edit(structuredClone(statementsOf(id)));
      return copy;
    };
    const problems = (template: Record<string, Resource>) => checkTemplate(template, scope).map((v) => v.problem);

    const withoutPolicy = Object.fromEntries(
      Object.entries(resources).filter(([, r]) => r.Type !== 'AWS::S3::BucketPolicy'),
    );
    expect(problems(withoutPolicy)).toEqual([expect.stringContaining('no bucket policy denies requests without TLS')]);
    expect(dataBucketTlsProblem(resources, scope)).toBeUndefined();

    const launchCondition = (edit: (condition: Record<string, unknown>) => void) =>
      withStatements('PrimesFanoutExecutionRole', (statements) =>
        statements.map((st) => {
          if (
            [st.Resource].flat().some((r) => typeof r === 'string' && r.endsWith(':instance/*')) &&
            [st.Action].flat().includes('ec2:RunInstances')
          )
            edit(st.Condition!.StringEquals!);
          return st;
        }),
      );
    expect(problems(launchCondition((c) => delete c['ec2:InstanceType']))).toEqual([
      expect.stringContaining('instance type not limited'),
    ]);
    expect(problems(launchCondition((c) => delete c['ec2:MetadataHttpTokens']))).toEqual([
      expect.stringContaining('IMDSv2 not required'),
    ]);

    const anyAccount = withStatements('ScrapeExecutionRole', (statements) =>
      statements.map((st) =>
        [st.Action].flat().includes('ssm:GetParameter')
          ? { ...st, Resource: [st.Resource].flat().map((r) => render(r, 'us-east-1')!.replace('{AccountId}', '*')) }
          : st,
      ),
    );
    expect(problems(anyAccount)).toEqual([
      expect.stringContaining('name this account'),
      expect.stringContaining('name this account'),
    ]);
  });

  it('reads every policy in the template: the roles and their trust policies, the bucket policy and the Lambda permissions', () => {
    const statements = policyStatements(resources);
    const kinds = (kind: LocatedStatement['kind']) => statements.filter((s) => s.kind === kind).length;
    // Every role's own statements (logs and SQS grants included), and no statement skipped unread.
    const roles = ofType('AWS::IAM::Role');
    expect(roles).toHaveLength(FUNCTION_NAMES.length);
    expect(kinds('identity')).toBe(
      roles.flatMap(([, role]) =>
        role.Properties.Policies.flatMap(
          (p: { PolicyDocument: { Statement: unknown[] } }) => p.PolicyDocument.Statement,
        ),
      ).length,
    );
    expect(kinds('trust')).toBe(roles.length);
    expect(kinds('resource')).toBe(ofType('AWS::Lambda::Permission').length + ofType('AWS::S3::BucketPolicy').length);
    const actions = statements.flatMap((s) => [s.statement.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining(['logs:CreateLogStream', 'logs:PutLogEvents', 'sqs:SendMessage', 'lambda:InvokeFunction']),
    );
  });

  it('finds no violation in the real template but the open findings reported for a serverless.yml fix', () => {
    const violations = checkTemplate(resources, serviceScope());
    const open = new Set(OPEN_FINDINGS.map((f) => f.statement));
    const unexpected = violations.filter((v) => !open.has(`${v.where}, statement ${v.id}`)).map((v) => v.message);
    expect(unexpected, `IAM violations:\n${unexpected.join('\n')}`).toEqual([]);
    const fixed = OPEN_FINDINGS.filter((f) => !violations.some((v) => `${v.where}, statement ${v.id}` === f.statement));
    expect(
      fixed.map((f) => f.statement),
      'these open findings are fixed: delete them from OPEN_FINDINGS',
    ).toEqual([]);
  });

  it('allows Resource "*" only for the allow-listed actions, each with a reason, and every entry is still used', () => {
    for (const entry of STAR_ACTIONS) {
      expect(entry.action).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/); // one exact action
      expect(entry.reason.trim().length, `${entry.action} needs a reason`).toBeGreaterThan(20);
      expect(entry.reason).not.toContain('\n');
    }
    const statements = policyStatements(resources);
    expect(
      unusedStarActions(statements, STAR_ACTIONS).map((e) => e.action),
      'allow-listed but no longer used on "*": remove',
    ).toEqual([]);
    // And the checker does refuse "*" for an action dropped from the list.
    const withoutList = { ...serviceScope(), starActions: [] };
    expect(
      checkStatements(statements, withoutList)
        .filter((v) => v.resource === '*')
        .map((v) => v.action),
    ).toEqual(STAR_ACTIONS.map((e) => e.action));
  });

  it('publishes nothing: no function URL, no Lambda permission for "*" or from an unnamed source, no bucket policy granting "*"', () => {
    expect(ofType('AWS::Lambda::Url')).toEqual([]);
    const permissions = ofType('AWS::Lambda::Permission');
    expect(permissions.length).toBeGreaterThan(0);
    for (const [id, permission] of permissions) {
      expect(permission.Properties.Principal, id).not.toBe('*');
      expect(permission.Properties.Principal, id).toMatch(/^[a-z0-9-]+\.amazonaws\.com$/);
      expect(permission.Properties.FunctionUrlAuthType, id).toBeUndefined();
      expect(permission.Properties.Action, id).toBe('lambda:InvokeFunction');
      expect(permission.Properties.SourceArn, id).toBeDefined();
    }
    // The bucket policies (the framework's deployment bucket's, and the data bucket's TLS rule) only deny to everyone.
    const policies = ofType('AWS::S3::BucketPolicy');
    for (const [id, policy] of policies) {
      for (const statement of [policy.Properties.PolicyDocument.Statement].flat()) {
        if (JSON.stringify(statement.Principal).includes('"*"'))
          expect(statement.Effect, `${id} grants to "*"`).toBe('Deny');
      }
    }
    const data = policies.filter(([, p]) => p.Properties.Bucket?.Ref === 'S3BucketData');
    expect(data).toHaveLength(1);
    expect(data[0]![1].Properties.PolicyDocument.Statement).toEqual([
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [DATA_BUCKET_ARN, `${DATA_BUCKET_ARN}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ]);
  });

  it('puts a Condition on every Allow of an EC2 action that launches, terminates or tags', () => {
    const open = new Set(OPEN_FINDINGS.map((f) => f.statement));
    const statements = policyStatements(resources).filter(
      ({ statement: s }) =>
        s.Effect === 'Allow' &&
        [s.Action].flat().some((a) => typeof a === 'string' && /^ec2:/.test(a) && !/^ec2:(Describe|Get|List)/.test(a)),
    );
    expect(statements.flatMap((s) => [s.statement.Action].flat())).toEqual(
      expect.arrayContaining(['ec2:RunInstances', 'ec2:TerminateInstances', 'ec2:CreateTags']),
    );
    const unconditioned = statements
      .filter((s) => s.statement.Condition === undefined)
      .map((s) => `${s.where}, statement ${s.id}`);
    expect(unconditioned.filter((where) => !open.has(where))).toEqual([]);
  });
});

describe('the rates.zip Lambda package', () => {
  it('runs on its own, outside the project: bundle, native renderer and font are all inside', async () => {
    // Extracted under the OS temp dir, where no node_modules of the project can be found by resolution.
    const lambdaRoot = mkdtempSync(path.join(os.tmpdir(), 'cp-lambda-'));
    const s3Dir = mkdtempSync(path.join(os.tmpdir(), 'cp-lambda-s3-'));
    const zip = await JSZip.loadAsync(readFileSync(path.join(outDir, 'rates.zip')));
    for (const entry of Object.values(zip.files)) {
      if (entry.dir) continue;
      const target = path.join(lambdaRoot, entry.name);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, await entry.async('nodebuffer'));
    }
    const server = await spawnS3ServerProcess({ directory: s3Dir, buckets: ['pkg-test'] });
    try {
      const env = {
        PATH: process.env.PATH,
        AWS_ENDPOINT_URL_S3: server.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        S3_FORCE_PATH_STYLE: 'true',
        DATA_BUCKET: 'pkg-test',
      };
      const s3 = new S3Client({
        endpoint: server.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: server.credentials,
      });
      await s3.send(
        new PutObjectCommand({
          Bucket: 'pkg-test',
          Key: 'uploads/pkg.csv',
          Body: sampleCountyCsv({ rows: 200, seed: 9 }),
        }),
      );
      // How the nodejs22.x runtime loads an ESM handler: import() of the file, then call the export.
      const script = `const { handler } = await import(${JSON.stringify(path.join(lambdaRoot, 'functions', 'rates.js'))});
        const reply = await handler({ key: 'uploads/pkg.csv' }, {});
        process.stdout.write(JSON.stringify(reply));`;
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        cwd: lambdaRoot,
        env,
      });
      const reply = JSON.parse(stdout) as { results: { status: string; rows: number }[] };
      expect(reply.results[0]).toMatchObject({ status: 'ok', rows: 200 });
      const png = await s3.send(new GetObjectCommand({ Bucket: 'pkg-test', Key: 'results/pkg/histogram.png' }));
      const image = decodePng(Buffer.from(await png.Body!.transformToByteArray()));
      // Text comes only from the bundled font: an empty title band means the font was not found.
      const dark = darkPixels(image, 0, 0, image.width, 80);
      expect(dark).toBeGreaterThan(500);
    } finally {
      await server.close();
      rmSync(lambdaRoot, { recursive: true, force: true });
      rmSync(s3Dir, { recursive: true, force: true });
    }
  }, 60_000);
});
