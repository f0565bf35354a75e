/**
 * The coordinator's reads of the upload itself: its header (a few ranged GETs of its first bytes, never the
 * data) and, at the end, nothing else — every data byte is read by the workers.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MAX_RECORD_BYTES } from '../csv-tokenizer.ts';
import type { RateOptions } from '../options.ts';
import { PROBE_BYTES } from '../sniff.ts';
import { type FileHeader, readFileHeader } from './header.ts';

/** The upload a parallel run splits: read only while its ETag is this one. */
export interface SourceObject {
  bucket: string;
  key: string;
  eTag: string;
  size: number;
}

/**
 * Reads the header from the object's first bytes, fetching a longer head (doubling) while readFileHeader asks for
 * more. A header record is at most MAX_RECORD_BYTES (csv-header.ts refuses a longer one), so the loop ends.
 * Throws the single path's RatesFileError for a file whose header is unusable.
 */
export async function readSourceHeader(
  s3: S3Client,
  source: SourceObject,
  options: RateOptions,
  signal?: AbortSignal,
): Promise<FileHeader> {
  for (let len = PROBE_BYTES + 1; ; len = Math.min(len * 2, source.size)) {
    const atEof = len >= source.size;
    const head = await readRange(s3, source, 0, Math.min(len, source.size), signal);
    const header = readFileHeader(head, atEof, options);
    if (header !== null) return header;
    if (atEof) throw new Error(`internal: readFileHeader asked for more than the whole of ${source.key}`);
    if (len > 4 * MAX_RECORD_BYTES + PROBE_BYTES) {
      throw new Error(`internal: no header decision after ${len} bytes of ${source.key}`);
    }
  }
}

/** Bytes [from, to) of the object, conditional on its ETag. */
async function readRange(
  s3: S3Client,
  source: SourceObject,
  from: number,
  to: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  if (to <= from) return Buffer.alloc(0);
  const object = await s3.send(
    new GetObjectCommand({
      Bucket: source.bucket,
      Key: source.key,
      IfMatch: source.eTag,
      Range: `bytes=${from}-${to - 1}`,
    }),
    signal === undefined ? {} : { abortSignal: signal },
  );
  const parts: Buffer[] = [];
  for await (const part of object.Body as Readable) parts.push(part as Buffer);
  return Buffer.concat(parts);
}
