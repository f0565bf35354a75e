/** Errors the local EC2 server answers as EC2 does: `<Errors><Error><Code>` with an HTTP status (400 unless said). */
import type { GuardRefusal } from '../../shared/request-guard.ts';

/** EC2's own answers to a request it does not authenticate. */
export const EC2_AUTH_ERRORS: Record<GuardRefusal['reason'], { code: string; status: number }> = {
  browser: { code: 'AuthFailure', status: 401 },
  host: { code: 'AuthFailure', status: 401 },
  missing: { code: 'MissingAuthenticationToken', status: 401 },
  malformed: { code: 'IncompleteSignature', status: 400 },
  expired: { code: 'RequestExpired', status: 400 },
  'unknown-key': { code: 'AuthFailure', status: 401 },
  'bad-signature': { code: 'SignatureDoesNotMatch', status: 403 },
};

export class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'Ec2Error';
  }
}
