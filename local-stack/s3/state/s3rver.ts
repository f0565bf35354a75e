/**
 * s3rver, as far as the local S3 server uses it (s3rver ships no type declarations), loaded once, and the
 * names its filesystem store gives what it keeps for a key.
 */
import type http from 'node:http';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';

export type ObjectMetadata = Record<string, string | number | undefined>;

/** What s3rver's store receives to write: its S3Object model. */
export interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: ObjectMetadata;
}

export interface S3rverStore {
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  initiateUpload(bucket: string, key: string, uploadId: string, metadata: unknown): Promise<void>;
  putPart(
    bucket: string,
    uploadId: string,
    partNumber: unknown,
    content: Readable,
  ): Promise<{ size: number; md5: string }>;
  putObjectMultipart(
    bucket: string,
    uploadId: string,
    parts: { number: unknown }[],
  ): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: ObjectMetadata, md5: string): Promise<void>;
  getBucket(bucket: string): Promise<unknown>;
  putBucket(bucket: string): Promise<unknown>;
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<ObjectMetadata>;
  existsObject(bucket: string, key: string): Promise<boolean>;
  deleteObject(bucket: string, key: string): Promise<void>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
}

export interface S3rverApp {
  store: S3rverStore;
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  on(event: 'event', listener: (event: unknown) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  logger?: { close?: () => void };
}

export interface S3ErrorInstance extends Error {
  code: string;
  status: number;
  toXML(): string;
}

export interface S3rverModules {
  S3rver: new (options: Record<string, unknown>) => S3rverApp;
  S3Error: new (code: string, message: string, detail?: Record<string, unknown>) => S3ErrorInstance;
  /** s3rver's object model, what its controllers expect a store read to answer (`range` set for a ranged read). */
  S3Object: new (
    bucket: string,
    key: string,
    content: Readable | null,
    metadata: ObjectMetadata,
  ) => { range?: { start: number; end: number } };
  account: {
    registry: Map<string, unknown>;
    DUMMY_ACCOUNT: { id: number; displayName: string; createKeyPair(id: string, secret: string): void };
  };
}

let loaded: S3rverModules | undefined;

export function loadS3rver(): S3rverModules {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  // s3rver is CommonJS without types (and without an `exports` map, so its model modules are reachable);
  // the casts describe the small surface used here.
  loaded = {
    S3rver: require('s3rver') as S3rverModules['S3rver'],
    S3Error: require('s3rver/lib/models/error.js') as S3rverModules['S3Error'],
    S3Object: require('s3rver/lib/models/object.js') as S3rverModules['S3Object'],
    account: require('s3rver/lib/models/account.js') as S3rverModules['account'],
  };
  return loaded;
}

/** Suffixes s3rver's filesystem store appends to the names of what it keeps for a key. */
export const OBJECT_SUFFIX = '._S3rver_object';
export const UPLOADS_DIR = '._S3rver_uploads';

/** Upload ids are folder names in s3rver's store: only what s3rver generates (hex) or a sane look-alike. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** A filesystem error that means the file or folder is not there. */
export function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
