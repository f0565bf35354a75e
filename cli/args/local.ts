/** `local`'s arguments: the action and the ports, each service on a port of its own. */
import { resolveStackOptions } from '../../local-stack/stack.ts';
import { parseFlags, type ParsedArgs } from '../parser.ts';
import { LOCAL } from '../spec.ts';
import { checkArgs, portOption, shown } from '../values.ts';
import { HELP, type HelpRequest, invalid } from './common.ts';

export const LOCAL_ACTIONS = ['start', 'stop', 'status', 'env'] as const;
export type LocalAction = (typeof LOCAL_ACTIONS)[number];
const PORT_FLAGS = {
  s3Port: 's3-port',
  lambdaPort: 'lambda-port',
  ec2Port: 'ec2-port',
  mongoPort: 'mongo-port',
  apiPort: 'api-port',
  dashboardPort: 'dashboard-port',
} as const;
export type LocalPorts = Partial<Record<keyof typeof PORT_FLAGS, number>>;

export interface LocalRequest {
  action: LocalAction;
  ports: LocalPorts;
}

export function parseLocalArgs(args: string[]): LocalRequest | HelpRequest {
  const parsed = parseFlags(LOCAL, args);
  return parsed.help ? HELP : localRequest(parsed);
}

/** The `local` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function localRequest({ values, positionals }: ParsedArgs<typeof LOCAL.flags>): LocalRequest {
  return checkArgs('local', () => {
    const [action, ...extra] = positionals;
    const actions = LOCAL_ACTIONS.join(', ');
    if (action === undefined) throw invalid(`local needs one of: ${actions}`);
    if (!(LOCAL_ACTIONS as readonly string[]).includes(action))
      throw invalid(`unknown local command ${shown(action)}; use one of: ${actions}`);
    if (extra.length > 0)
      throw invalid(`local ${action} takes no further arguments, got ${extra.map((p) => shown(p)).join(', ')}`);
    const ports: LocalPorts = {};
    for (const [option, flag] of Object.entries(PORT_FLAGS) as [keyof typeof PORT_FLAGS, string][]) {
      const raw = values[flag as keyof typeof values];
      if (raw === undefined) continue;
      if (action !== 'start') throw invalid(`--${flag} applies to local start only`);
      ports[option] = portOption(raw, `--${flag}`);
    }
    if (action === 'start') {
      // Each service needs a port of its own; one taken twice would start half the stack and then fail.
      const resolved = resolveStackOptions(ports);
      const byPort = new Map<number, string[]>();
      for (const [option, flag] of Object.entries(PORT_FLAGS) as [keyof typeof PORT_FLAGS, string][]) {
        const port = resolved[option];
        const variable = `CLOUD_PARALLEL_${flag.replace('-port', '').toUpperCase()}_PORT`;
        const from =
          ports[option] !== undefined ? `--${flag}` : process.env[variable] ? variable : `the default --${flag}`;
        byPort.set(port, [...(byPort.get(port) ?? []), from]);
      }
      for (const [port, users] of byPort) {
        if (users.length > 1)
          throw invalid(
            `port ${port} is given to more than one service (${users.join(', ')}); each needs its own port`,
          );
      }
    }
    return { action: action as LocalAction, ports };
  });
}
