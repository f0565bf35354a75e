/**
 * DeleteObjects, answered by the front: s3rver parses numeric-looking keys as numbers and emits no events for
 * a multi-object delete.
 */
import type http from 'node:http';
import { element as tag, elements, firstElement } from '../../shared/xml.ts';
import { describeError, log } from '../log.ts';
import { malformedXml } from '../protocol/errors.ts';
import { S3_XMLNS, sendXml } from '../protocol/reply.ts';
import { bodyOf, readBody } from '../protocol/request-body.ts';
import { keyProblem } from '../state/names.ts';
import { requireBucket } from '../state/uploads.ts';
import type { S3Front } from './front.ts';

export async function handleDeleteObjects(
  front: S3Front,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bucket: string,
): Promise<void> {
  const { store } = front;
  await requireBucket(store, bucket);
  const xmlBody = (await readBody(bodyOf(req), 2 * 1024 * 1024)).toString('utf8');
  if (!/<Delete[\s>]/.test(xmlBody)) throw malformedXml();
  const quiet = firstElement(xmlBody, 'Quiet') === 'true';
  const keys = elements(xmlBody, 'Object').map((object) => firstElement(object, 'Key'));
  if (keys.length === 0 || keys.length > 1000 || keys.some((key) => key === undefined || key === ''))
    throw malformedXml();
  const context = front.contexts.getStore();
  let out = '';
  // One at a time: s3rver removes emptied directories after each delete, which races with itself.
  for (const key of keys as string[]) {
    const problem = keyProblem(key);
    if (problem) {
      out += `<Error>${tag('Key', key)}${tag('Code', problem.code)}${tag('Message', problem.message)}</Error>`;
      continue;
    }
    try {
      if (await store.existsObject(bucket, key)) {
        await store.deleteObject(bucket, key);
        front.notifier.notify({ eventName: 'ObjectRemoved:Delete', bucket, key }, context);
      }
      if (!quiet) out += `<Deleted>${tag('Key', key)}</Deleted>`;
    } catch (error) {
      log(`DeleteObjects: could not delete "${key}": ${describeError(error)}`);
      out += `<Error>${tag('Key', key)}${tag('Code', 'InternalError')}${tag('Message', 'We encountered an internal error. Please try again.')}</Error>`;
    }
  }
  sendXml(res, 200, `<DeleteResult xmlns="${S3_XMLNS}">${out}</DeleteResult>`, req.method);
}
