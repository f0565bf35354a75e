/**
 * The EC2 Query API's XML: replies in the `2016-11-15` namespace with the element names the SDK's deserializer
 * reads, lists as `<name><item>…</item></name>`, and errors as `<Response><Errors><Error>…`.
 */
import { element as el } from '../../shared/xml.ts';

export { element as el } from '../../shared/xml.ts';

const NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** `<name>` around already-built XML. */
export function wrap(name: string, inner: string): string {
  return `<${name}>${inner}</${name}>`;
}

export function items(name: string, parts: string[]): string {
  return parts.length === 0 ? `<${name}/>` : wrap(name, parts.map((part) => wrap('item', part)).join(''));
}

export function response(action: string, requestId: string, inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NAMESPACE}">${el('requestId', requestId)}${inner}</${action}Response>`;
}

export function errorResponse(requestId: string, code: string, message: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${el('Code', code)}${el('Message', message)}</Error></Errors>` +
    `${el('RequestID', requestId)}</Response>`
  );
}
