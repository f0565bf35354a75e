import { calculateObjectSize, type Document } from 'bson';
import { MAX_BATCH_BYTES } from '../protocol/constants.ts';

/** A query's results waiting for getMore, handed out in batches that stay under the reply size. */
export interface Cursor {
  namespace: string;
  documents: Document[];
  offset: number;
  lastUsed: number;
}

export function takeBatch(cursor: Cursor, maxCount: number): Document[] {
  const batch: Document[] = [];
  let bytes = 0;
  while (cursor.offset < cursor.documents.length && batch.length < maxCount) {
    const document = cursor.documents[cursor.offset] as Document;
    const size = calculateObjectSize(document);
    if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
    batch.push(document);
    bytes += size;
    cursor.offset += 1;
  }
  return batch;
}
