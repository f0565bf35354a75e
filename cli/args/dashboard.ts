/** `dashboard`'s arguments: the deployed stage to show, and where. */
import { regionSchema, stageSchema } from '../../lib/stage.ts';
import { parseFlags, type ParsedArgs } from '../parser.ts';
import { DASHBOARD } from '../spec.ts';
import { checkArgs, portOption, shown } from '../values.ts';
import { HELP, type HelpRequest, invalid, noPositionals } from './common.ts';

/** A port of its own, so it runs beside the local stack's dashboard (4580). */
export const DEFAULT_STAGE_DASHBOARD_PORT = 4581;

export interface DashboardRequest {
  stage: string;
  region?: string;
  bucket?: string;
  port: number;
  allowRuns: boolean;
}

export function parseDashboardArgs(args: string[]): DashboardRequest | HelpRequest {
  const parsed = parseFlags(DASHBOARD, args);
  return parsed.help ? HELP : dashboardRequest(parsed);
}

/** The `dashboard` request from its parsed flags: a stage is required; region and bucket as names AWS accepts. */
export function dashboardRequest({ values, positionals }: ParsedArgs<typeof DASHBOARD.flags>): DashboardRequest {
  return checkArgs('dashboard', () => {
    noPositionals('dashboard', positionals);
    if (values.stage === undefined) throw invalid('dashboard needs --stage, the deployed stage to show (e.g. dev)');
    const judge = (schema: typeof stageSchema, value: string, flag: string): string => {
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw invalid(`${flag} ${parsed.error.issues[0]?.message}, got ${shown(value)}`);
      return parsed.data;
    };
    const request: DashboardRequest = {
      stage: judge(stageSchema, values.stage, '--stage'),
      port: portOption(values.port, '--port') ?? DEFAULT_STAGE_DASHBOARD_PORT,
      allowRuns: values['allow-runs'] === true,
    };
    if (values.region !== undefined) request.region = judge(regionSchema, values.region, '--region');
    if (values.bucket !== undefined) {
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(values.bucket))
        throw invalid(`--bucket must be an S3 bucket name, got ${shown(values.bucket)}`);
      request.bucket = values.bucket;
    }
    return request;
  });
}
