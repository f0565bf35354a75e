/**
 * What every endpoint of the local stack checks before it does anything: the request must come from the user's own
 * tools (the SDK, the AWS CLI, curl on a local "instance"), not from a web page the user happens to have open.
 *
 * A page can make the browser send requests to 127.0.0.1 (an `<img src>`, a form POST, a `no-cors` fetch) and,
 * through DNS rebinding, even read the answers under a name of its own. Browsers mark such requests: they carry an
 * `Origin` header (every cross-origin POST, every fetch) or `Sec-Fetch-Site: cross-site|same-site`, and a rebound
 * request names the attacker's host in `Host`. None of the stack's legitimate clients sends either header, and they
 * all address the stack by the loopback name it announced. Signatures (sigv4.ts) are the second, stronger line: a
 * page cannot sign, since it never sees the stack's secret.
 */
import type http from 'node:http';
import { sha256Hex, verifySigV4, type AuthFailure, type Credentials, type VerifyOptions } from './sigv4.ts';

export type { Credentials } from './sigv4.ts';

export interface GuardRefusal {
  reason: 'browser' | 'host' | AuthFailure['reason'];
  message: string;
}

/** The names a loopback server may be addressed by (the Host header), for the port it listens on. */
export function loopbackHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** The Host values a server bound to `host:port` answers to: the loopback names, and `host` itself when it is specific. */
export function announcedHosts(host: string, port: number): Set<string> {
  const names = loopbackHosts(port);
  if (host !== '0.0.0.0' && host !== '::')
    names.add(`${host.includes(':') ? `[${host}]` : host}:${port}`.toLowerCase());
  return names;
}

/** Refuses what a browser sends on behalf of a page, and any request addressed to a name that is not ours. */
export function refuseBrowserRequest(
  req: Pick<http.IncomingMessage, 'headers'>,
  allowedHosts: ReadonlySet<string>,
): GuardRefusal | undefined {
  if (req.headers.origin !== undefined) {
    return {
      reason: 'browser',
      message: 'Requests with an Origin header (sent by web browsers for pages) are refused by the local stack',
    };
  }
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    return {
      reason: 'browser',
      message: `Requests a browser marks Sec-Fetch-Site: ${site} are refused by the local stack`,
    };
  }
  const host = req.headers.host?.toLowerCase();
  if (host === undefined || !allowedHosts.has(host)) {
    return {
      reason: 'host',
      message: `The local stack answers only to ${[...allowedHosts].join(', ')}; a request for host ${JSON.stringify(host ?? '')} is refused (DNS rebinding)`,
    };
  }
  return undefined;
}

export interface SignatureOptions {
  credentials: Credentials;
  service: VerifyOptions['service'];
}

export interface GuardOptions extends SignatureOptions {
  allowedHosts: ReadonlySet<string>;
}

/**
 * The signature check alone, for a server that has already refused browser requests before reading the body its
 * signature covers (EC2, the Lambda front). `body` is that buffered body; S3 passes none (it signs a declared hash).
 */
export function refuseUnsigned(
  req: http.IncomingMessage,
  options: SignatureOptions,
  body?: Buffer,
): GuardRefusal | undefined {
  return verifySigV4(
    { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, headersDistinct: req.headersDistinct },
    {
      credentials: options.credentials,
      service: options.service,
      ...(body === undefined ? {} : { bodySha256: sha256Hex(body) }),
    },
  );
}

/** Both checks in order, for a request whose signature covers no body read yet (S3): browser and Host, then the signature. */
export function guardRequest(req: http.IncomingMessage, options: GuardOptions): GuardRefusal | undefined {
  return refuseBrowserRequest(req, options.allowedHosts) ?? refuseUnsigned(req, options);
}

/**
 * The credentials a server started as a process accepts: the stack's, from its environment (the stack starts every
 * server with them; the environment is readable only by the same user, unlike the command line).
 */
export function credentialsFromEnvironment(env: NodeJS.ProcessEnv = process.env): Credentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set: the server accepts only requests signed with them ' +
        '(`npx cloud-parallel local start` generates them for the stack; `local env` prints them)',
    );
  }
  return { accessKeyId, secretAccessKey };
}
