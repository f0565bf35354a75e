/**
 * `cloud-parallel dashboard --stage <stage>`: the local dashboard's pages against a deployed stage. The same server
 * (dashboard/server.ts), the same lib/ code and SDK clients (lib/aws/), pointed at AWS by the SDK's usual chain
 * (credentials, region, and AWS_ENDPOINT_URL_* if the shell sets them); the resources by the names serverless.yml
 * gives the stage (lib/stage.ts). Read-only unless --allow-runs: forms are hidden and every POST is refused.
 * Protected like the local one: loopback only, a random token per start in the printed URL, swapped for a cookie.
 */
import { randomBytes } from 'node:crypto';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { createSsmClient } from '../lib/aws/ssm.ts';
import { createSecretResolver } from '../lib/scrape/config.ts';
import { SCRAPE_FUNCTION_TIMEOUT_SECONDS } from '../lib/scrape/invoke.ts';
import { type StageNames, stageNames } from '../lib/stage.ts';
import { createScrapeServices } from '../dashboard/pages/scrapes/services.ts';
import type { DashboardServices } from '../dashboard/routes.ts';
import { startDashboard } from '../dashboard/server.ts';
import type { DashboardRequest } from './args/dashboard.ts';
import { onInterrupt } from './interrupt.ts';
import { progress } from './shared.ts';

/** serverless.yml's `provider.region` default: where `sls deploy` puts a stage when nothing names a region. */
export const DEFAULT_DEPLOY_REGION = 'us-east-1';

export interface StageDashboard {
  services: DashboardServices;
  names: StageNames;
  /** The clients the pages send through, for tests of what they would send. */
  clients: { s3: S3Client; lambda: LambdaClient; ssm: SSMClient };
  close: () => Promise<void>;
}

/**
 * The region the SDK's chain resolves (AWS_REGION, the profile's `region`), else serverless.yml's default, which
 * is then set for every client built after (so they all send to the stage's region).
 */
async function resolveRegion(request: DashboardRequest, env: NodeJS.ProcessEnv): Promise<string> {
  if (request.region !== undefined) {
    env.AWS_REGION = request.region;
    return request.region;
  }
  const probe = new LambdaClient({});
  try {
    return await probe.config.region();
  } catch (error) {
    if (!(error instanceof Error && /region is missing/i.test(error.message))) throw error;
    env.AWS_REGION = DEFAULT_DEPLOY_REGION;
    return DEFAULT_DEPLOY_REGION;
  } finally {
    probe.destroy();
  }
}

/**
 * The dashboard's services for a deployed stage. `env` is the process's environment (the SDK clients read it):
 * the region is set there when --region names one. MongoDB's URI: MONGODB_URI when set, else the SSM SecureString
 * the scrape function reads (MONGODB_URI_PARAMETER, default /cloud-parallel/<stage>/mongodb-uri), read on first use.
 */
export async function stageDashboardServices(
  request: DashboardRequest,
  env: NodeJS.ProcessEnv = process.env,
  log?: (line: string) => void,
): Promise<StageDashboard> {
  const names = stageNames(request.stage, await resolveRegion(request, env));
  const s3 = createS3Client(env);
  const lambda = createLambdaClient({ workerTimeoutSeconds: SCRAPE_FUNCTION_TIMEOUT_SECONDS });
  const fanoutLambda = createLambdaClient();
  const ssm = createSsmClient();
  const scrapes = createScrapeServices({
    env: env.MONGODB_URI === undefined ? { MONGODB_URI_PARAMETER: names.mongodbUriParameter, ...env } : env,
    lambda,
    functionName: names.functionName('scrape'),
    readSecret: createSecretResolver(ssm),
    ...(log === undefined ? {} : { log }),
  });
  return {
    services: {
      s3,
      bucket: request.bucket ?? names.bucket,
      scrapes,
      // A prime count is one synchronous invocation of the fan-out: its own client, whose timeout outlasts it.
      ...(request.allowRuns
        ? { primes: { lambda: fanoutLambda, fanoutFunction: names.functionName('primes-fanout') } }
        : {}),
      readOnly: !request.allowRuns,
    },
    names,
    clients: { s3, lambda, ssm },
    close: async () => {
      await scrapes.close();
      for (const client of [s3, lambda, fanoutLambda, ssm]) client.destroy();
    },
  };
}

export async function dashboardCommand(request: DashboardRequest): Promise<number> {
  const stage = await stageDashboardServices(request, process.env, progress);
  const token = randomBytes(32).toString('base64url');
  const dashboard = await startDashboard({
    port: request.port,
    host: '127.0.0.1',
    token,
    services: stage.services,
    log: progress,
  });
  onInterrupt('stopping the dashboard', async () => {
    await dashboard.close();
    await stage.close();
  });
  const { names, services } = stage;
  process.stdout.write(
    `dashboard ${dashboard.url}/?token=${token}  (stage ${names.stage} in ${names.region}: bucket ${services.bucket}, ` +
      `scrape function ${names.functionName('scrape')}, ${request.allowRuns ? 'runs allowed' : 'read-only'})\n` +
      'Open the URL in a browser on this machine; Ctrl-C stops it.\n',
  );
  // Serves until Ctrl-C, whose clean-up above closes it and ends the process.
  return new Promise<number>(() => undefined);
}
