/** ListObjects and ListObjectsV2, answered by the front from s3rver's store (see state/listing.ts for why). */
import type http from 'node:http';
import PQueue from 'p-queue';
import { listBucketResult, parseListRequest } from '../protocol/list-codec.ts';
import { sendXml } from '../protocol/reply.ts';
import { listBucket } from '../state/listing.ts';
import { isMissing, type ObjectMetadata } from '../state/s3rver.ts';
import { requireBucket } from '../state/uploads.ts';
import type { S3Front } from './front.ts';

/** How many metadata files a page reads at once. */
const METADATA_READS = 32;

export async function handleList(
  front: S3Front,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bucket: string,
  query: URLSearchParams,
  v2: boolean,
): Promise<void> {
  const { store, account } = front;
  await requireBucket(store, bucket);
  const request = parseListRequest(query, v2);
  const result = await listBucket(store.getBucketPath(bucket), request.listQuery);
  const reads = new PQueue({ concurrency: METADATA_READS });
  const metadata = await reads.addAll(
    result.keys.map((key) => async (): Promise<ObjectMetadata | undefined> => {
      try {
        return await store.getMetadata(bucket, key);
      } catch (error) {
        if (isMissing(error)) return undefined; // deleted meanwhile
        throw error;
      }
    }),
  );
  const owner = { id: String(account.DUMMY_ACCOUNT.id), displayName: account.DUMMY_ACCOUNT.displayName };
  sendXml(res, 200, listBucketResult(request, bucket, result, metadata, owner), req.method);
}
