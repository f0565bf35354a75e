/** The shapes of the ids and encodings the local EC2 server accepts, and the ids it makes. */
import { randomBytes } from 'node:crypto';

export const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const AMI_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/** Any well-formed AMI id works here; this is the one the local stack's configuration names. */
export const LOCAL_IMAGE_ID = 'ami-0c1a0ca1000000000';
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** The account that owns every instance, reservation and image here. */
export const OWNER_ID = '000000000000';

/** A fresh id such as `i-0123456789abcdef0` (17 hex digits, as EC2 makes today). */
export function hexId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}
