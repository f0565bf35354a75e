/**
 * The stack's settings (ports, state directory) and the environment that points clients at it: what a caller
 * needs to reach a running stack, apart from starting or stopping it.
 */
import path from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { LOCAL_IMAGE_ID } from '../ec2/server.ts';
import { PROJECT_ROOT } from '../service-config.ts';
import { DEFAULT_DASHBOARD_PORT } from '../../dashboard/settings.ts';
import type { StackOptions, StackState } from './state.ts';

export const HOST = '127.0.0.1';

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError('LOCAL_STACK', `${name}=${JSON.stringify(raw)} is not a TCP port (1-65535)`);
  }
  return port;
}

export function resolveStackOptions(options: StackOptions = {}) {
  return {
    s3Port: options.s3Port ?? envPort('CLOUD_PARALLEL_S3_PORT', 4569),
    lambdaPort: options.lambdaPort ?? envPort('CLOUD_PARALLEL_LAMBDA_PORT', 3002),
    ec2Port: options.ec2Port ?? envPort('CLOUD_PARALLEL_EC2_PORT', 4570),
    mongoPort: options.mongoPort ?? envPort('CLOUD_PARALLEL_MONGO_PORT', 27017),
    apiPort: options.apiPort ?? envPort('CLOUD_PARALLEL_API_PORT', 4575),
    dashboardPort: options.dashboardPort ?? envPort('CLOUD_PARALLEL_DASHBOARD_PORT', DEFAULT_DASHBOARD_PORT),
    // An empty variable means the default, as for every other setting (not the current directory).
    stateDir: path.resolve(
      options.stateDir ?? (process.env.CLOUD_PARALLEL_STATE_DIR || path.join(PROJECT_ROOT, '.local-stack')),
    ),
    stage: options.stage,
    onProgress: options.onProgress ?? (() => undefined),
  };
}

/**
 * The EC2 backend's settings (lib/config.ts loadEc2Config) against the local stack: the emulator's image, this
 * machine's Node (an instance runs on it, so it must not ask for a newer one), and quick polls.
 */
export function localEc2Environment(state: {
  service: Pick<StackState['service'], 'service' | 'stage'>;
}): Record<string, string> {
  return { SERVICE_NAME: state.service.service, STAGE: state.service.stage, ...localEc2Settings() };
}

/** The part of localEc2Environment that needs no service config (serverless-offline starts before it is read). */
export function localEc2Settings(): Record<string, string> {
  return {
    EC2_IMAGE_ID: LOCAL_IMAGE_ID,
    EC2_NODE_MAJOR: process.versions.node.split('.')[0]!,
    EC2_POLL_SECONDS: '0.2',
  };
}

/** The key the API fixture accepts: a fixed local value, not a secret (the real key comes from SSM). */
export const LOCAL_YELP_API_KEY = 'local-yelp-key';

/**
 * Environment that points the AWS SDK (and the AWS CLI) at the local stack, with the stack's own credentials: its
 * endpoints accept requests signed with nothing else.
 */
export function stackEnvironment(
  state: Pick<StackState, 's3Endpoint' | 'lambdaEndpoint' | 'ec2Endpoint' | 'region' | 'credentials'> &
    Partial<Pick<StackState, 'mongoUri' | 'apiBaseUrl'>>,
): Record<string, string> {
  return {
    ...(state.mongoUri === undefined ? {} : { MONGODB_URI: state.mongoUri }),
    ...(state.apiBaseUrl === undefined
      ? {}
      : {
          YELP_API_BASE_URL: `${state.apiBaseUrl}/v3`,
          HN_API_BASE_URL: `${state.apiBaseUrl}/api/v1`,
          YELP_API_KEY: LOCAL_YELP_API_KEY,
        }),
    AWS_ENDPOINT_URL_S3: state.s3Endpoint,
    AWS_ENDPOINT_URL_LAMBDA: state.lambdaEndpoint,
    AWS_ENDPOINT_URL_EC2: state.ec2Endpoint,
    AWS_REGION: state.region,
    AWS_DEFAULT_REGION: state.region, // the AWS CLI's name for it
    AWS_ACCESS_KEY_ID: state.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: state.credentials.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}
