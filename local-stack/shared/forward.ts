/** Passing a request a local server received on to the server behind it: the proxy in front of S3 and the Lambda front. */
import http from 'node:http';

/** Opens a request to `target` with `req`'s method and path and the headers the caller prepared; `onAnswer` gets the answer. */
export function requestUpstream(
  target: URL,
  req: http.IncomingMessage,
  headers: http.OutgoingHttpHeaders,
  onAnswer: (answer: http.IncomingMessage) => void,
): http.ClientRequest {
  return http.request(
    {
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
    },
    onAnswer,
  );
}
