/** DescribeImages: every well-formed AMI id names the one local image (instances run their user data with bash). */
import { Ec2Error } from '../protocol/errors.ts';
import { AMI_ID, OWNER_ID } from '../protocol/ids.ts';
import type { QueryParams } from '../protocol/query.ts';
import { el, items } from '../protocol/xml.ts';
import type { Ec2Context } from './context.ts';

export function describeImages(_context: Ec2Context, params: QueryParams): string {
  const ids = params.list('ImageId');
  for (const id of ids)
    if (!AMI_ID.test(id)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`);
  return items(
    'imagesSet',
    ids.map(
      (id) =>
        el('imageId', id) +
        el('imageLocation', `local/${id}`) +
        el('imageState', 'available') +
        el('imageOwnerId', OWNER_ID) +
        el('creationDate', '2024-01-01T00:00:00.000Z') +
        el('isPublic', true) +
        el('architecture', 'x86_64') +
        el('imageType', 'machine') +
        el('name', `local-linux-${id}`) +
        el('description', 'Local stack image: instances run their user data with bash on this machine') +
        el('rootDeviceType', 'ebs') +
        el('rootDeviceName', '/dev/xvda') +
        el('virtualizationType', 'hvm') +
        el('hypervisor', 'xen') +
        el('platformDetails', 'Linux/UNIX') +
        el('usageOperation', 'RunInstances') +
        el('enaSupport', true) +
        '<blockDeviceMapping/>' +
        '<tagSet/>',
    ),
  );
}
