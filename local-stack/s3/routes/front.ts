/** What every handler of the local S3 server's front works with: the store, s3rver behind it, notifications. */
import type { AsyncLocalStorage } from 'node:async_hooks';
import type http from 'node:http';
import type { Notifier } from '../notifications.ts';
import type { RequestBody } from '../protocol/request-body.ts';
import type { RequestContext } from '../protocol/request.ts';
import type { S3rverModules, S3rverStore } from '../state/s3rver.ts';

/** One request addressed to an object (or an upload of one), as the object-level handlers take it. */
export interface ObjectRequest {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  bucket: string;
  key: string;
  query: URLSearchParams;
}

export interface S3Front {
  store: S3rverStore;
  account: S3rverModules['account'];
  notifier: Notifier;
  /** The context of the request being handled (s3rver's events read it too). */
  contexts: AsyncLocalStorage<RequestContext>;
  /** Passes a request to s3rver, with `body` standing in for the request stream when given. */
  toS3rver(req: http.IncomingMessage, res: http.ServerResponse, body?: RequestBody): Promise<void>;
}
