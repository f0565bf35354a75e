/**
 * ListMultipartUploads (`GET /bucket?uploads`), which s3rver answers NotImplemented: the uploads started and neither
 * completed nor aborted — how a user (or a test) sees that nothing is left billing parts. As AWS answers it: sorted
 * by key, uploads of one key by initiation time; `prefix`, `max-uploads` (default and cap 1,000), `key-marker` and
 * `upload-id-marker` for pages (NextKeyMarker / NextUploadIdMarker when truncated), `encoding-type=url`. Not
 * emulated: `delimiter` (refused NotImplemented rather than ignored).
 */
import { promises as fsp } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { element } from '../../shared/xml.ts';
import { FrontError } from '../protocol/errors.ts';
import { S3_XMLNS, sendXml } from '../protocol/reply.ts';
import { isMissing, UPLOAD_ID } from '../state/s3rver.ts';
import { requireBucket } from '../state/uploads.ts';
import type { S3Front } from './front.ts';

interface OpenUpload {
  key: string;
  uploadId: string;
  initiated: Date;
  /** The same instant in nanoseconds: two uploads started within one millisecond still sort by start. */
  initiatedNs: bigint;
}

export async function handleListUploads(
  front: S3Front,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bucket: string,
  query: URLSearchParams,
): Promise<void> {
  await requireBucket(front.store, bucket);
  if (query.has('delimiter')) {
    throw new FrontError('NotImplemented', 'The local S3 server does not implement delimiter on ListMultipartUploads.');
  }
  const encodingType = query.get('encoding-type');
  if (encodingType !== null && encodingType !== 'url') {
    throw new FrontError('InvalidArgument', 'Invalid Encoding Method specified in Request', {
      ArgumentName: 'encoding-type',
      ArgumentValue: encodingType,
    });
  }
  const maxUploads = parseMaxUploads(query.get('max-uploads'));
  const prefix = query.get('prefix') ?? '';
  const keyMarker = query.get('key-marker') ?? '';
  const uploadIdMarker = query.get('upload-id-marker') ?? '';

  const all = afterMarkers(
    (await openUploads(front.store.getResourcePath(bucket, undefined, 'uploads'))).filter((upload) =>
      upload.key.startsWith(prefix),
    ),
    keyMarker,
    uploadIdMarker,
  );
  const page = all.slice(0, maxUploads);
  const truncated = all.length > page.length;
  const last = page.at(-1);
  const encode = (value: string) => (encodingType === 'url' ? encodeURIComponent(value).replace(/%2F/g, '/') : value);
  const owner = `${element('ID', String(front.account.DUMMY_ACCOUNT.id))}${element('DisplayName', front.account.DUMMY_ACCOUNT.displayName)}`;
  const xml =
    `<ListMultipartUploadsResult xmlns="${S3_XMLNS}">` +
    element('Bucket', bucket) +
    element('KeyMarker', encode(keyMarker)) +
    element('UploadIdMarker', uploadIdMarker) +
    (truncated && last
      ? element('NextKeyMarker', encode(last.key)) + element('NextUploadIdMarker', last.uploadId)
      : '') +
    element('Prefix', encode(prefix)) +
    (encodingType === 'url' ? element('EncodingType', 'url') : '') +
    element('MaxUploads', maxUploads) +
    element('IsTruncated', truncated) +
    page
      .map(
        (upload) =>
          `<Upload>${element('Key', encode(upload.key))}${element('UploadId', upload.uploadId)}` +
          `<Initiator>${owner}</Initiator><Owner>${owner}</Owner>` +
          `${element('StorageClass', 'STANDARD')}${element('Initiated', upload.initiated.toISOString())}</Upload>`,
      )
      .join('') +
    '</ListMultipartUploadsResult>';
  sendXml(res, 200, xml, req.method);
}

/**
 * The uploads after the markers: keys after `key-marker`; with `upload-id-marker`, also the uploads of that key after
 * that upload — by position in the list when it is still open (uploads of one key are in initiation order, not id
 * order), else those with a greater id, as AWS documents the marker.
 */
function afterMarkers(uploads: OpenUpload[], keyMarker: string, uploadIdMarker: string): OpenUpload[] {
  if (keyMarker === '') return uploads;
  const marked = uploads.findIndex((upload) => upload.key === keyMarker && upload.uploadId === uploadIdMarker);
  if (uploadIdMarker !== '' && marked >= 0) return uploads.slice(marked + 1);
  return uploads.filter(
    (upload) =>
      compare(upload.key, keyMarker) > 0 ||
      (upload.key === keyMarker && uploadIdMarker !== '' && compare(upload.uploadId, uploadIdMarker) > 0),
  );
}

function parseMaxUploads(raw: string | null): number {
  if (raw === null) return 1000;
  if (!/^\d+$/.test(raw)) {
    throw new FrontError('InvalidArgument', 'Provided max-uploads not an integer or within integer range', {
      ArgumentName: 'max-uploads',
      ArgumentValue: raw.slice(0, 100),
    });
  }
  return Math.min(Number(raw), 1000);
}

/**
 * The uploads in s3rver's uploads folder (one folder per upload id, its key in the file `key`, written once when it
 * was started: its mtime is the initiation time), in AWS's order: key, then initiation, then id.
 */
async function openUploads(uploadsDir: string): Promise<OpenUpload[]> {
  let names: string[];
  try {
    names = await fsp.readdir(uploadsDir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  const found = await Promise.all(
    names
      .filter((name) => UPLOAD_ID.test(name))
      .map(async (uploadId): Promise<OpenUpload | undefined> => {
        const keyFile = path.join(uploadsDir, uploadId, 'key');
        try {
          const [key, stat] = await Promise.all([fsp.readFile(keyFile, 'utf8'), fsp.stat(keyFile, { bigint: true })]);
          return { key, uploadId, initiated: stat.mtime, initiatedNs: stat.mtimeNs };
        } catch (error) {
          if (isMissing(error)) return undefined; // completed or aborted meanwhile
          throw error;
        }
      }),
  );
  return found
    .filter((upload) => upload !== undefined)
    .sort(
      (a, b) =>
        compare(a.key, b.key) ||
        (a.initiatedNs < b.initiatedNs ? -1 : a.initiatedNs > b.initiatedNs ? 1 : 0) ||
        compare(a.uploadId, b.uploadId),
    );
}

/** UTF-8 byte order, as S3 sorts keys (not UTF-16 code units). */
function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
