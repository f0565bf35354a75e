/**
 * One EC2 Query API request: refused before its body is read if a page sent it, then its signature checked,
 * its parameters read (POST form body, or the query string of a read-only GET), and its action run.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import {
  refuseBrowserRequest,
  refuseUnsigned,
  type Credentials,
  type GuardRefusal,
} from '../../shared/request-guard.ts';
import { EC2_AUTH_ERRORS, Ec2Error } from '../protocol/errors.ts';
import { QueryParams } from '../protocol/query.ts';
import { errorResponse, response } from '../protocol/xml.ts';
import type { Action, Ec2Context } from './context.ts';
import { describeImages } from './images.ts';
import { describeInstances, describeInstanceStatus, terminateInstances } from './instances.ts';
import { runInstances } from './run-instances.ts';

const MAX_BODY_BYTES = 1024 * 1024;
/** Actions that change nothing, the only ones a GET may carry. */
const READ_ONLY_ACTION = /^Describe[A-Z]/;

const ACTIONS: Record<string, Action> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  TerminateInstances: terminateInstances,
  DescribeImages: describeImages,
  DescribeInstanceStatus: describeInstanceStatus,
};

export interface Guard {
  credentials: Credentials;
  allowedHosts: Set<string>;
}

export async function handleRequest(
  context: Ec2Context,
  guard: Guard,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const requestId = randomUUID();
  const send = (status: number, body: string): void => {
    res.writeHead(status, {
      'content-type': 'text/xml;charset=UTF-8',
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': requestId,
    });
    res.end(body);
  };
  try {
    const params = await readParams(guard, req);
    const action = params.get('Action');
    if (action === undefined) throw new Ec2Error('MissingAction', 'The request must contain the parameter Action');
    if (req.method !== 'POST' && !READ_ONLY_ACTION.test(action)) {
      throw new Ec2Error(
        'UnsupportedOperation',
        `${action} changes state and must be sent as a POST, not a ${req.method}`,
        400,
      );
    }
    const handler = ACTIONS[action];
    if (!handler) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
    if (context.fleet.closing) throw new Ec2Error('Unavailable', 'The server is shutting down', 503);
    const inner = handler(context, params);
    context.fleet.log(`${action} 200`);
    send(200, response(action, requestId, inner));
  } catch (error) {
    if (error instanceof Ec2Error) {
      context.fleet.log(`error ${error.status} ${error.code}: ${error.message}`);
      send(error.status, errorResponse(requestId, error.code, error.message));
    } else {
      process.stderr.write(`[ec2] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
      send(500, errorResponse(requestId, 'InternalError', 'An internal error has occurred'));
    }
  }
}

function refuse(refusal: GuardRefusal): never {
  const { code, status } = EC2_AUTH_ERRORS[refusal.reason];
  throw new Ec2Error(code, refusal.message, status);
}

/** The request's parameters, once it has passed the browser check and the signature check. */
async function readParams(guard: Guard, req: http.IncomingMessage): Promise<QueryParams> {
  // Before reading a byte of the body: a page's request is refused whatever it carries.
  const browser = refuseBrowserRequest(req, guard.allowedHosts);
  if (browser) refuse(browser);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Ec2Error('RequestEntityTooLarge', 'Request body is too large', 413);
    chunks.push(chunk as Buffer);
  }
  const rawBody = Buffer.concat(chunks);
  const unsigned = refuseUnsigned(req, { credentials: guard.credentials, service: 'other' }, rawBody);
  if (unsigned) refuse(unsigned);
  // Not new URL(): a target such as `//x` would be read as a host, or throw.
  const target = req.url ?? '/';
  const query = target.includes('?') ? target.slice(target.indexOf('?') + 1) : '';
  const body = rawBody.toString('utf8');
  return QueryParams.parse(req.method === 'POST' && body !== '' ? body : query);
}
