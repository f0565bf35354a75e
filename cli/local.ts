import {
  dashboardLoginUrl,
  readStackState,
  stackEnvironment,
  stopStack,
  type StackState,
} from '../local-stack/stack.ts';
import { credentialsFile } from '../local-stack/shared/credentials.ts';
import type { LocalRequest } from './args/local.ts';
import { CliError } from './cli-error.ts';
import { progress, startStackInterruptibly } from './shared.ts';

export async function localCommand({ action, ports }: LocalRequest): Promise<number> {
  switch (action) {
    case 'start': {
      // A Ctrl-C at any point of the start stops what it started; once it is up, the stack is the user's.
      const { state, started, release } = await startStackInterruptibly({ ...ports, onProgress: progress });
      release();
      process.stdout.write(
        `${started ? 'Local stack started' : 'Local stack already running'}:\n${describeStack(state)}`,
      );
      return 0;
    }
    case 'stop': {
      const stopped = await stopStack();
      process.stdout.write(
        stopped.length === 0
          ? 'Local stack is not running.\n'
          : `Stopped ${stopped.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}.\n`,
      );
      return 0;
    }
    case 'status': {
      const state = readStackState();
      process.stdout.write(
        state
          ? `Local stack running since ${state.startedAt}:\n${describeStack(state)}`
          : 'Local stack is not running.\n',
      );
      return state ? 0 : 1;
    }
    case 'env': {
      const state = readStackState();
      if (!state)
        throw new CliError(
          'the local stack is not running; start it with `npx cloud-parallel local start`',
          'NOT_RUNNING',
        );
      // The login URL only here: stackEnvironment is every process's environment, and none of them needs the token.
      const env = {
        ...stackEnvironment(state),
        ...state.service.environment,
        CLOUD_PARALLEL_DASHBOARD_URL: dashboardLoginUrl(state),
      };
      process.stdout.write(
        `${Object.entries(env)
          .map(([k, v]) => `export ${k}=${JSON.stringify(v)}`)
          .join('\n')}\n`,
      );
      return 0;
    }
  }
}

export function describeStack(state: StackState): string {
  const buckets = state.service.buckets.join(', ');
  const triggers = state.service.notifications
    .map((n) => `s3://${n.bucket}/${n.prefix ?? ''}*${n.suffix ?? ''} → ${n.target}`)
    .join('\n              ');
  return [
    `  S3         ${state.s3Endpoint}  (buckets: ${buckets})`,
    `  Lambda     ${state.lambdaEndpoint}  (serverless-offline's invoke API, behind a front that checks signatures)`,
    `  EC2        ${state.ec2Endpoint}  (EC2 Query API; instances run their user data as local processes)`,
    `  MongoDB    ${state.mongoUri}  (MongoDB wire protocol: the mongodb driver, mongosh, Compass)`,
    `  APIs       ${state.apiBaseUrl}/v3 (Yelp Fusion fixture), ${state.apiBaseUrl}/api/v1 (HN Algolia fixture)`,
    `  triggers   ${triggers}`,
    `  data/logs  ${state.stateDir}`,
    `  access     requests must be signed (SigV4) with the stack's own key ${state.credentials.accessKeyId} (secret in ${credentialsFile(state.stateDir)}, mode 0600); pages in a browser are refused`,
    `  use it     eval "$(npx cloud-parallel local env)"   # then aws/sls/SDK calls go to the local stack`,
    // Unindented, so it stands out and a script can find it (`grep ^dashboard`): the one line meant for a browser.
    `dashboard   ${dashboardLoginUrl(state)}   (open it in a browser: the token logs you in)`,
    '',
  ].join('\n');
}
