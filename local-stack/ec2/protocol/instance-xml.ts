/** Instances, reservations and state changes as the EC2 Query API's XML describes them. */
import { OWNER_ID } from './ids.ts';
import { el, items, wrap } from './xml.ts';
import { STATE_CODES, type InstanceRecord, type InstanceStateName } from '../state/instance.ts';

/** `<code>` and `<name>` of a state. */
export function stateXml(state: InstanceStateName): string {
  return el('code', STATE_CODES[state]) + el('name', state);
}

/** One reservation: its id, owner and instances. */
export function reservationXml(reservationId: string, instances: InstanceRecord[]): string {
  return `${el('reservationId', reservationId) + el('ownerId', OWNER_ID)}<groupSet/>${items('instancesSet', instances.map(instanceXml))}`;
}

export function instanceXml(record: InstanceRecord): string {
  const tags = [...record.tags].map(([key, value]) => el('key', key) + el('value', value));
  const groups = record.securityGroupIds.map((id) => el('groupId', id) + el('groupName', id));
  return (
    el('instanceId', record.instanceId) +
    el('imageId', record.imageId) +
    wrap('instanceState', stateXml(record.stateName)) +
    el('privateDnsName', '') +
    el('dnsName', '') +
    el('reason', record.stateTransitionReason) +
    el('amiLaunchIndex', record.amiLaunchIndex) +
    '<productCodes/>' +
    el('instanceType', record.instanceType) +
    el('launchTime', record.launchTime.toISOString()) +
    wrap(
      'placement',
      el('availabilityZone', record.availabilityZone) + el('groupName', '') + el('tenancy', 'default'),
    ) +
    wrap('monitoring', el('state', 'disabled')) +
    el('subnetId', record.subnetId) +
    items('groupSet', groups) +
    (record.stateReason
      ? wrap('stateReason', el('code', record.stateReason.code) + el('message', record.stateReason.message))
      : '') +
    el('architecture', 'x86_64') +
    el('rootDeviceType', 'ebs') +
    el('rootDeviceName', '/dev/xvda') +
    el('virtualizationType', 'hvm') +
    el('hypervisor', 'xen') +
    el('platformDetails', 'Linux/UNIX') +
    items('tagSet', tags) +
    (record.httpTokens !== undefined
      ? wrap(
          'metadataOptions',
          el('state', 'applied') + el('httpTokens', record.httpTokens) + el('httpEndpoint', 'enabled'),
        )
      : '') +
    wrap('instanceInitiatedShutdownBehavior', record.shutdownBehavior)
  );
}
