/**
 * The local EC2 server as a process: `node --import tsx local-stack/ec2/cli.ts [options]` prints one JSON line
 * when ready on stdout; logs go to stderr. SIGTERM/SIGINT terminate every instance, then exit. The stack
 * (../stack.ts) starts it this way.
 */
import { credentialsFromEnvironment } from '../shared/request-guard.ts';
import { commonServerOptions, parseServerArgs } from '../shared/server-args.ts';
import { integerOption, runServerMain } from '../shared/server-process.ts';
import { startEc2Server, type Ec2ServerOptions } from './server.ts';
import { KILL_GRACE_MS } from './state/fleet.ts';

export interface Ec2CliOptions extends Ec2ServerOptions {
  silent: boolean;
}

export function parseCliArgs(argv: string[]): Ec2CliOptions {
  const values = parseServerArgs(argv, 4570, ['dir', 'region', 'pending-ms', 'max-instances', 'minute-ms']);
  const common = commonServerOptions(values);
  const pendingMs = integerOption('pending-ms', values['pending-ms'], 0);
  const maxInstances = integerOption('max-instances', values['max-instances'], 1);
  const minuteMs = integerOption('minute-ms', values['minute-ms'], 1);
  return {
    ...common,
    directory: values.dir ?? '.local-stack/ec2',
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(pendingMs === undefined ? {} : { pendingMs }),
    ...(maxInstances === undefined ? {} : { maxInstances }),
    ...(minuteMs === undefined ? {} : { minuteMs }),
    credentials: credentialsFromEnvironment(),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'ec2',
  usage:
    'ec2/cli.ts [--port 4570] [--host 127.0.0.1] [--dir .local-stack/ec2] [--region us-east-1] [--pending-ms 200] [--max-instances 16] [--minute-ms 60000 (tests only)] [--silent]  ' +
    '(accepts only requests signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of its environment)',
  parse: parseCliArgs,
  start: async (options) => {
    const server = await startEc2Server(options);
    return {
      ready: { ready: true, endpoint: server.endpoint, port: server.port, region: options.region ?? 'us-east-1' },
      close: () => server.close(),
    };
  },
  what: 'terminating instances and shutting down',
  graceMs: KILL_GRACE_MS + 3000,
});
