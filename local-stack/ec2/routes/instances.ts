/** DescribeInstances, DescribeInstanceStatus and TerminateInstances. */
import { Ec2Error } from '../protocol/errors.ts';
import { INSTANCE_ID } from '../protocol/ids.ts';
import { reservationXml, stateXml } from '../protocol/instance-xml.ts';
import type { QueryParams } from '../protocol/query.ts';
import { wildcardMatch } from '../protocol/wildcard.ts';
import { el, items, wrap } from '../protocol/xml.ts';
import { STATE_CODES, type InstanceRecord } from '../state/instance.ts';
import type { Ec2Context } from './context.ts';

/** The request's `InstanceId.N`, each well-formed and known. */
function instanceIds(context: Ec2Context, params: QueryParams): string[] {
  const ids = params.list('InstanceId');
  for (const id of ids) {
    if (!INSTANCE_ID.test(id)) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
  }
  const unknown = ids.filter((id) => !context.fleet.records.has(id));
  if (unknown.length > 0) {
    throw new Ec2Error(
      'InvalidInstanceID.NotFound',
      `The instance ID${unknown.length > 1 ? 's' : ''} '${unknown.join(', ')}' do${unknown.length > 1 ? '' : 'es'} not exist`,
    );
  }
  return ids;
}

/** One `Filter.N` as a predicate: any of its values (with wildcards) matches any of the record's values. */
function instanceFilter(filter: QueryParams): (record: InstanceRecord) => boolean {
  const name = filter.get('Name') ?? '';
  const values = filter.list('Value');
  let get: (record: InstanceRecord) => string[];
  if (name === 'instance-state-name') get = (r) => [r.stateName];
  else if (name === 'instance-state-code') get = (r) => [String(STATE_CODES[r.stateName])];
  else if (name === 'instance-id') get = (r) => [r.instanceId];
  else if (name === 'image-id') get = (r) => [r.imageId];
  else if (name === 'instance-type') get = (r) => [r.instanceType];
  else if (name === 'reservation-id') get = (r) => [r.reservationId];
  else if (name === 'tag-key') get = (r) => [...r.tags.keys()];
  else if (name === 'tag-value') get = (r) => [...r.tags.values()];
  else if (name.startsWith('tag:')) {
    const key = name.slice(4);
    get = (r) => (r.tags.has(key) ? [r.tags.get(key) ?? ''] : []);
  } else throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
  return (record: InstanceRecord): boolean =>
    get(record).some((actual) => values.some((pattern) => wildcardMatch(pattern, actual)));
}

export function describeInstances(context: Ec2Context, params: QueryParams): string {
  const ids = instanceIds(context, params);
  const filters = params.structs('Filter').map(instanceFilter);
  const selected = [...context.fleet.records.values()].filter(
    (record) => (ids.length === 0 || ids.includes(record.instanceId)) && filters.every((matches) => matches(record)),
  );
  const reservations = new Map<string, InstanceRecord[]>();
  for (const record of selected) {
    const group = reservations.get(record.reservationId) ?? [];
    group.push(record);
    reservations.set(record.reservationId, group);
  }
  return items(
    'reservationSet',
    [...reservations].map(([reservationId, group]) => reservationXml(reservationId, group)),
  );
}

export function terminateInstances(context: Ec2Context, params: QueryParams): string {
  const ids = instanceIds(context, params);
  if (ids.length === 0) throw new Ec2Error('MissingParameter', 'The request must contain the parameter InstanceId');
  if (params.get('DryRun') === 'true')
    throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
  const changes = ids.map((id) => {
    const record = context.fleet.records.get(id);
    if (!record) throw new Error('unreachable: ids are validated');
    const { previous, current } = context.fleet.terminate(record, 'User initiated');
    return el('instanceId', id) + wrap('currentState', stateXml(current)) + wrap('previousState', stateXml(previous));
  });
  return items('instancesSet', changes);
}

export function describeInstanceStatus(context: Ec2Context, params: QueryParams): string {
  const ids = instanceIds(context, params);
  const all = params.get('IncludeAllInstances') === 'true';
  const selected = [...context.fleet.records.values()].filter(
    (record) => (ids.length === 0 || ids.includes(record.instanceId)) && (all || record.stateName === 'running'),
  );
  const summary = (ok: boolean): string =>
    el('status', ok ? 'ok' : 'not-applicable') +
    items('details', ok ? [el('name', 'reachability') + el('status', 'passed')] : []);
  return items(
    'instanceStatusSet',
    selected.map((record) => {
      const running = record.stateName === 'running';
      return (
        el('instanceId', record.instanceId) +
        el('availabilityZone', record.availabilityZone) +
        wrap('instanceState', stateXml(record.stateName)) +
        wrap('systemStatus', summary(running)) +
        wrap('instanceStatus', summary(running))
      );
    }),
  );
}
