/**
 * The local Lambda front as a process: `node --import tsx local-stack/lambda/cli.ts --target …` prints one JSON
 * line when ready on stdout; logs go to stderr. The stack (../stack.ts) starts it in front of serverless-offline.
 */
import { credentialsFromEnvironment } from '../shared/request-guard.ts';
import { commonServerOptions, parseServerArgs } from '../shared/server-args.ts';
import { runServerMain } from '../shared/server-process.ts';
import { FRONT_TOKEN_ENV, startLambdaFront, type LambdaFrontOptions } from './front.ts';

export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): LambdaFrontOptions {
  const values = parseServerArgs(argv, 3002, ['target']);
  // A missing or wrong --target is reported before anything else (the port included): it is the one flag the front needs.
  if (values.target === undefined || !/^http:\/\/[^/]+\/?$/.test(values.target)) {
    throw new Error(
      `--target must be serverless-offline's invoke API as http://host:port, got ${JSON.stringify(values.target ?? '')}`,
    );
  }
  const token = env[FRONT_TOKEN_ENV];
  if (!token || token.length < 32)
    throw new Error(`${FRONT_TOKEN_ENV} must hold the token (32+ characters) that serverless-offline's guard expects`);
  return {
    ...commonServerOptions(values),
    target: values.target,
    token,
    credentials: credentialsFromEnvironment(env),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'lambda-front',
  usage:
    'lambda/cli.ts --target http://127.0.0.1:<offline port> [--port 3002] [--host 127.0.0.1] [--silent]  ' +
    `(accepts only requests signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of its environment; forwards with ${FRONT_TOKEN_ENV})`,
  parse: (argv) => parseCliArgs(argv),
  start: async (options) => {
    const front = await startLambdaFront(options);
    return { ready: { ready: true, endpoint: front.endpoint, port: front.port }, close: () => front.close() };
  },
  what: 'shutting down',
  graceMs: 2000,
});
