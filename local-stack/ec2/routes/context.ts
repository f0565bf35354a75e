/** What every EC2 action works with. */
import type { QueryParams } from '../protocol/query.ts';
import type { Fleet } from '../state/fleet.ts';

export interface Ec2Context {
  fleet: Fleet;
  /** Instance folders live here, one per instance. */
  directory: string;
  region: string;
  /** The most instances one RunInstances may ask for, and the most alive at once. */
  maxInstances: number;
}

/** An action: the request's parameters in, the inner XML of its `<Action>Response` out. */
export type Action = (context: Ec2Context, params: QueryParams) => string;
