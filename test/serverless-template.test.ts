import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleCountyCsv } from '../lib/rates/sample-data.ts';
import { spawnS3ServerProcess } from '../local-stack/s3-child.ts';
import { darkPixels, decodePng } from './support/png.ts';
import { PROJECT_ROOT, serverlessBin } from '../local-stack/service-config.ts';

interface Resource {
  Type: string;
  Properties: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CloudFormation JSON is untyped
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

/**
 * The shared execution role's statements, with Action always a list: the framework writes the statements it
 * adds itself (e.g. sqs:SendMessage for an async destination) with a single string Action.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CloudFormation JSON is untyped
function roleStatements(): any[] {
  const [, role] = ofType('AWS::IAM::Role')[0]!;
  return role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement) // eslint-disable-line @typescript-eslint/no-explicit-any
    .map((s: { Action: string | string[] }) => ({ ...s, Action: [s.Action].flat() }));
}

/** The async invocation settings (retries, max event age, destinations) of a function, by its logical id. */
function eventInvokeConfigOf(functionLogicalId: string): Resource | undefined {
  return ofType('AWS::Lambda::EventInvokeConfig').find(([, r]) => r.Properties.FunctionName?.Ref === functionLogicalId)?.[1];
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
    expect(bucket!.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
  });

  it('triggers rates only for .csv objects under uploads/', () => {
    const [, bucket] = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket')!;
    const [lambda] = bucket.Properties.NotificationConfiguration.LambdaConfigurations;
    expect(lambda.Function['Fn::GetAtt'][0]).toBe('RatesLambdaFunction');
    expect(lambda.Filter.S3Key.Rules).toEqual([
      { Name: 'prefix', Value: 'uploads/' },
      { Name: 'suffix', Value: '.csv' },
    ]);
  });

  it('grants the functions only scoped S3 actions', () => {
    const statements = roleStatements();
    const s3Statements = statements.filter((s: { Action: string[] }) => s.Action.some((a) => a.startsWith('s3:')));
    for (const statement of s3Statements) {
      expect(statement.Action).not.toContain('s3:*');
      const resourcesText = JSON.stringify(statement.Resource);
      expect(resourcesText).not.toBe('"*"');
      if (statement.Action.includes('s3:ListBucket')) {
        // Listing is on the bucket itself, so it is narrowed by prefix instead.
        expect(statement.Action).toEqual(['s3:ListBucket']);
        expect(statement.Condition).toEqual({ StringLike: { 's3:prefix': 'runs/*' } });
      } else {
        expect(resourcesText).toMatch(/\/(uploads|results|runs)\/\*/);
      }
    }
    const reads = s3Statements.find((s: { Action: string[] }) => s.Action.includes('s3:GetObject'));
    expect(JSON.stringify(reads.Resource)).toContain('/uploads/*');
    const writes = s3Statements.find((s: { Action: string[] }) => s.Action.includes('s3:PutObject'));
    expect(JSON.stringify(writes.Resource)).toContain('/results/*');
    expect(JSON.stringify(writes.Resource)).not.toContain('/uploads/');
  });

  it('lets the EC2 backend launch and terminate only instances tagged with this service and stage', () => {
    const statements = roleStatements();
    const actions = statements.flatMap((s: { Action: string[] }) => s.Action);
    expect(actions.filter((a: string) => a.startsWith('ec2:')).sort()).toEqual(
      ['ec2:CreateTags', 'ec2:DescribeInstances', 'ec2:RunInstances', 'ec2:RunInstances', 'ec2:TerminateInstances'].sort(),
    );
    expect(actions.some((a: string) => a === '*' || a.endsWith(':*') || a.startsWith('iam:'))).toBe(false);
    const tagged = { 'aws:RequestTag/service': 'cloud-parallel', 'aws:RequestTag/stage': 'dev' };
    const launch = statements.filter((s: { Action: string[] }) => s.Action.includes('ec2:RunInstances'));
    const launchOfInstances = launch.find((s: { Resource: string[] }) => s.Resource.some((r) => r.endsWith(':instance/*')));
    expect(launchOfInstances.Condition).toEqual({ StringEquals: tagged });
    const terminate = statements.find((s: { Action: string[] }) => s.Action.includes('ec2:TerminateInstances'));
    expect(terminate.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/service': 'cloud-parallel', 'aws:ResourceTag/stage': 'dev' } });
    const tags = statements.find((s: { Action: string[] }) => s.Action.includes('ec2:CreateTags'));
    expect(tags.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
    // The only wildcard resource: EC2's Describe* actions accept nothing else.
    const wildcards = statements.filter((s: { Resource: unknown }) => JSON.stringify(s.Resource).includes('"*"'));
    expect(wildcards.map((s: { Action: string[] }) => s.Action)).toEqual([['ec2:DescribeInstances']]);
    // Parameter Store: the public AL2023 AMI parameter, and the scraper's two secrets — nothing else.
    const ssm = statements.filter((s: { Action: string[] }) => s.Action.some((a) => a.startsWith('ssm:')));
    expect(ssm.map((s: { Action: string[] }) => s.Action)).toEqual([['ssm:GetParameter'], ['ssm:GetParameter']]);
    expect(ssm.flatMap((s: { Resource: string | string[] }) => [s.Resource].flat()).sort()).toEqual([
      'arn:aws:ssm:us-east-1:*:parameter/cloud-parallel/dev/mongodb-uri',
      'arn:aws:ssm:us-east-1:*:parameter/cloud-parallel/dev/yelp-api-key',
      'arn:aws:ssm:us-east-1::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    ]);
  });

  it('ships the EC2 worker bundle in the fan-out package and expires abandoned run scratch space', async () => {
    const zip = await JSZip.loadAsync(readFileSync(path.join(outDir, 'primes-fanout.zip')));
    const bundle = await zip.file('.ec2-workers/primes.mjs')?.async('string');
    expect(bundle).toBeDefined();
    expect(bundle).toMatch(/export\s*\{[^}]*\brun\b/);
    const [, bucket] = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket')!;
    const rules = bucket.Properties.LifecycleConfiguration.Rules;
    expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'runs/', ExpirationInDays: 1, Status: 'Enabled' }));
  });

  it('lets the fan-out invoke only its worker, and keeps the nightly run disabled unless a stage enables it', () => {
    const statements = roleStatements();
    const invoke = statements.filter((s: { Action: string[] }) => s.Action.some((a) => a.startsWith('lambda:')));
    expect(invoke).toHaveLength(1);
    expect(invoke[0].Action).toEqual(['lambda:InvokeFunction']);
    expect(invoke[0].Resource).toEqual([{ 'Fn::GetAtt': ['PrimesDashworkerLambdaFunction', 'Arn'] }]);

    const ruleFor = (fn: string) => ofType('AWS::Events::Rule').find(([, r]) => r.Properties.Targets[0].Arn['Fn::GetAtt'][0] === fn)![1];
    const rule = ruleFor('PrimesDashfanoutLambdaFunction');
    expect(rule.Properties.State).toBe('DISABLED');
    expect(rule.Properties.ScheduleExpression).toMatch(/^cron\(/);
    expect(JSON.parse(rule.Properties.Targets[0].Input)).toEqual({ start: 100000000, end: 101000000, chunks: 4, backend: 'lambda' });
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
    expect(config!.Properties.DestinationConfig).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } });
  });

  it('keeps failed events encrypted (SSE-SQS) for 14 days', () => {
    const [, queue] = failedEventsQueue();
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(queue.Properties.KmsMasterKeyId).toBeUndefined(); // SSE-KMS would also need kms:* grants
    expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('lets the functions send messages only to the failed-events queue, and do nothing else with SQS', () => {
    const [queueId] = failedEventsQueue();
    const sqs = roleStatements().filter((s: { Action: string[] }) => s.Action.some((a) => a.toLowerCase().startsWith('sqs:') || a === '*'));
    expect(sqs.length).toBeGreaterThan(0);
    for (const statement of sqs) {
      expect(statement.Effect).toBe('Allow');
      expect(statement.Action).toEqual(['sqs:SendMessage']);
      // One queue, by its ARN: never "*" nor a pattern of queue names.
      expect([statement.Resource].flat()).toEqual([{ 'Fn::GetAtt': [queueId, 'Arn'] }]);
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
    // The worker is invoked synchronously by the fan-out: async settings would not apply to it.
    expect(eventInvokeConfigOf('PrimesDashworkerLambdaFunction')).toBeUndefined();
  });

  it('targets the nodejs22.x runtime and bundles the handler with the native chart renderer', () => {
    const [, fn] = ofType('AWS::Lambda::Function').find(([id]) => id === 'RatesLambdaFunction')!;
    expect(fn.Properties.Runtime).toBe('nodejs22.x');
    expect(fn.Properties.Handler).toBe('functions/rates.handler');
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
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        S3_FORCE_PATH_STYLE: 'true',
        DATA_BUCKET: 'pkg-test',
      };
      const s3 = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      await s3.send(new PutObjectCommand({ Bucket: 'pkg-test', Key: 'uploads/pkg.csv', Body: sampleCountyCsv({ rows: 200, seed: 9 }) }));
      // How the nodejs22.x runtime loads an ESM handler: import() of the file, then call the export.
      const script = `const { handler } = await import(${JSON.stringify(path.join(lambdaRoot, 'functions', 'rates.js'))});
        const reply = await handler({ key: 'uploads/pkg.csv' }, {});
        process.stdout.write(JSON.stringify(reply));`;
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: lambdaRoot, env });
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
