/** Replies the local S3 server's front writes itself: XML documents, and errors in s3rver's error XML. */
import type http from 'node:http';
import { loadS3rver } from '../state/s3rver.ts';
import type { FrontError } from './errors.ts';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

export function sendXml(res: http.ServerResponse, status: number, xml: string, method: string | undefined): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/xml');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(method === 'HEAD' ? undefined : body);
}

/** Answers with the error, or cuts the connection when the reply has already begun. */
export function sendError(res: http.ServerResponse, error: FrontError, method: string | undefined): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const s3Error = new (loadS3rver().S3Error)(error.code, error.message, error.detail);
  res.statusCode = s3Error.status;
  const xml = s3Error.toXML();
  res.setHeader('Content-Type', 'application/xml');
  res.setHeader('Content-Length', Buffer.byteLength(xml));
  res.end(method === 'HEAD' ? undefined : xml);
}
