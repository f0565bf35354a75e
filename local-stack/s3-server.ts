/**
 * The S3-compatible server of the local stack: `s3rver` behind a small HTTP front that makes it work with
 * standard clients (AWS SDK v3, AWS CLI) at their default settings, and that emits AWS-shaped bucket
 * notifications.
 *
 * What the front fixes, and why:
 * - aws-chunked uploads. SDK v3 streams PutObject/UploadPart bodies as `content-encoding: aws-chunked` with
 *   a checksum trailer; s3rver would store the framing as object data. The front decodes the framing as a
 *   stream, verifies the declared length and checksums (trailer or header: CRC32, SHA-1, SHA-256,
 *   Content-MD5) and hands s3rver the plain body with corrected headers. Signatures are not verified
 *   (`allowMismatchedSignatures`) and every access key is accepted: this is a local development server.
 * - Listing. s3rver's ListObjectsV2 continuation tokens use DES (rejected by Node's OpenSSL 3 without
 *   `--openssl-legacy-provider`), and its directory walk does not return keys in S3's order, so pages can
 *   skip keys (`a/x` is walked before `a-1`). The front answers ListObjects and ListObjectsV2 itself from
 *   s3rver's store, in UTF-8 byte order, with opaque tokens, delimiters, `encoding-type=url` and
 *   `fetch-owner`. No legacy OpenSSL provider is needed.
 * - Notifications. s3rver's own events are unfiltered, report multipart completion as `ObjectCreated:Post`,
 *   hard-code the region and leave keys unencoded. The front emits one AWS-shaped record per matching rule.
 * - Smaller gaps: DeleteObjects (s3rver parses numeric-looking keys as numbers and emits no events),
 *   AbortMultipartUpload (unsupported), CompleteMultipartUpload validation (a missing part crashes s3rver),
 *   suffix ranges (`bytes=-N`) and ranges on empty objects, URL-encoded `x-amz-copy-source` (s3rver only
 *   `decodeURI`s it, so `%2B` stays encoded).
 *
 * - Names. s3rver stores `<bucket>/<key>` as a path under its data folder, so a `..` in a key, a bucket or a
 *   copy source named files outside it. The front refuses invalid bucket names and `.`/`..` key segments
 *   (rules and the AWS behaviour they follow: s3-names.ts), hands s3rver a path it built from the checked
 *   names, refuses browser form uploads (PostObject), and `confineStore` checks every path the store builds.
 *
 * Only path-style requests (`http://host:port/bucket/key`) are supported; s3rver's host-name-as-bucket
 * guessing is switched off so the server works under any host name (Docker service names, LAN addresses).
 *
 * Run directly, it is a CLI (see `main` at the bottom) that prints one JSON line when ready and one JSON line
 * per notification on stdout; logs go to stderr.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { credentialsFromEnvironment, guardRequest, type Credentials, type GuardRefusal } from './shared/request-guard.ts';
import { bucketNameProblem, isInside, keyProblem, type NameProblem } from './s3-names.ts';
import { listenOnLoopback, portOption, runServerMain, writeLine } from './shared/server-process.ts';
import zlib from 'node:zlib';

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

export interface NotificationRule {
  bucket: string;
  prefix?: string;
  suffix?: string;
  /** e.g. `['s3:ObjectCreated:*']`; a trailing `*` matches by prefix. The `s3:` prefix is optional. */
  events: string[];
  /** Opaque to this server, e.g. a function name. */
  target: string;
  /** Becomes `s3.configurationId` in the records; defaults to `<target>-<index of the rule>`. */
  id?: string;
}

export interface S3ServerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Data directory; persists across restarts. */
  directory: string;
  /** Created at start if missing. */
  buckets: string[];
  /** Default us-east-1. */
  region?: string;
  rules?: NotificationRule[];
  onNotification?: (target: string, event: S3EventLike) => void | Promise<void>;
  /** No request log on stderr (errors are still logged). */
  silent?: boolean;
  /** The only credentials requests may be signed with (SigV4, header or presigned); see request-guard.ts. */
  credentials: Credentials;
  /**
   * More `host:port` names to answer to besides the loopback ones: a proxy in front of the server (the tests'
   * fault-proxy.ts) forwards the client's Host, which names the proxy, and the client signed for it.
   */
  hostAliases?: string[];
}

export interface RunningS3Server {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** One S3 notification record as AWS delivers it (event structure version 2.1). */
export interface S3EventRecordLike {
  eventVersion: string;
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  /** Without the `s3:` prefix, e.g. `ObjectCreated:Put`. */
  eventName: string;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: { 'x-amz-request-id': string; 'x-amz-id-2': string };
  s3: {
    s3SchemaVersion: string;
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    /** `key` is URL-encoded as AWS does (space → `+`); `size` and `eTag` are absent on removals. */
    object: { key: string; size?: number; eTag?: string; sequencer: string };
  };
}

export interface S3EventLike {
  Records: S3EventRecordLike[];
}

/** True if a notification rule applies to an event (`eventName` with or without the `s3:` prefix). */
export function matchesRule(rule: NotificationRule, bucket: string, key: string, eventName: string): boolean {
  if (rule.bucket !== bucket) return false;
  if (rule.prefix !== undefined && !key.startsWith(rule.prefix)) return false;
  if (rule.suffix !== undefined && !key.endsWith(rule.suffix)) return false;
  const name = stripS3Prefix(eventName);
  return rule.events.some((pattern) => {
    const wanted = stripS3Prefix(pattern);
    return wanted.endsWith('*') ? name.startsWith(wanted.slice(0, -1)) : name === wanted;
  });
}

/**
 * Encodes an object key as AWS does in notifications: form-style URL encoding (space → `+`, UTF-8
 * percent-escapes, letters, digits and `.-_*` unescaped) except that `/` stays as it is.
 */
export function encodeS3EventKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    if (
      (byte >= 0x30 && byte <= 0x39) || // 0-9
      (byte >= 0x41 && byte <= 0x5a) || // A-Z
      (byte >= 0x61 && byte <= 0x7a) || // a-z
      byte === 0x2e || // .
      byte === 0x2d || // -
      byte === 0x5f || // _
      byte === 0x2a || // *
      byte === 0x2f // /
    ) {
      out += String.fromCharCode(byte);
    } else if (byte === 0x20) {
      out += '+';
    } else {
      out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

function stripS3Prefix(name: string): string {
  return name.startsWith('s3:') ? name.slice(3) : name;
}

// ---------------------------------------------------------------------------------------------------------
// s3rver, as far as this module uses it (s3rver ships no type declarations)
// ---------------------------------------------------------------------------------------------------------

type ObjectMetadata = Record<string, string | number | undefined>;

/** What s3rver's store receives to write: its S3Object model. */
interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: ObjectMetadata;
}

interface S3rverStore {
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  initiateUpload(bucket: string, key: string, uploadId: string, metadata: unknown): Promise<void>;
  putPart(bucket: string, uploadId: string, partNumber: unknown, content: Readable): Promise<{ size: number; md5: string }>;
  putObjectMultipart(bucket: string, uploadId: string, parts: { number: unknown }[]): Promise<{ size: number; md5: string }>;
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

interface S3rverApp {
  store: S3rverStore;
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  on(event: 'event', listener: (event: unknown) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  logger?: { close?: () => void };
}

interface S3ErrorInstance extends Error {
  code: string;
  status: number;
  toXML(): string;
}

interface S3rverModules {
  S3rver: new (options: Record<string, unknown>) => S3rverApp;
  S3Error: new (code: string, message: string, detail?: Record<string, unknown>) => S3ErrorInstance;
  account: {
    registry: Map<string, unknown>;
    DUMMY_ACCOUNT: { id: number; displayName: string; createKeyPair(id: string, secret: string): void };
  };
}

let loaded: S3rverModules | undefined;

function loadS3rver(): S3rverModules {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  // s3rver is CommonJS without types (and without an `exports` map, so its model modules are reachable);
  // the casts describe the small surface used here.
  loaded = {
    S3rver: require('s3rver') as S3rverModules['S3rver'],
    S3Error: require('s3rver/lib/models/error.js') as S3rverModules['S3Error'],
    account: require('s3rver/lib/models/account.js') as S3rverModules['account'],
  };
  return loaded;
}

/** Upload ids are folder names in s3rver's store: only what s3rver generates (hex) or a sane look-alike. */
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Belt and braces under the front's own checks: every filesystem path s3rver's store builds from a bucket
 * name, a key or an upload id must stay inside that bucket's folder, whoever asks (s3rver's controllers,
 * the front's own handlers, or a request shape nobody thought of).
 *
 * s3rver's filesystem store builds every path from `getBucketPath` or `getResourcePath` (including the
 * cleanup of emptied folders in `deleteObject`, which reuses a key `getResourcePath` has just checked); the
 * multipart methods join an upload id and a part number onto the uploads folder. Those are the places
 * checked here. A refused name is s3rver's own S3Error, so whoever called answers 400, never 500.
 */
function confineStore(store: S3rverStore, root: string): void {
  const { S3Error } = loadS3rver();
  const refuse = (problem: NameProblem, detail: Record<string, unknown>): never => {
    throw new S3Error(problem.code, problem.message, detail);
  };
  const escaped = (what: string): never => {
    throw new S3Error('InvalidArgument', `The request names a path outside the bucket's folder (${what.slice(0, 200)}).`);
  };
  const bucketPath = store.getBucketPath.bind(store);
  const resourcePath = store.getResourcePath.bind(store);
  const getBucket = store.getBucket.bind(store);
  const initiateUpload = store.initiateUpload.bind(store);
  const putPart = store.putPart.bind(store);
  const putObjectMultipart = store.putObjectMultipart.bind(store);

  store.getBucketPath = (bucket) => {
    const problem = bucketNameProblem(bucket);
    if (problem) refuse(problem, { BucketName: bucket });
    const resolved = path.resolve(bucketPath(bucket));
    if (path.dirname(resolved) !== root) escaped(`bucket ${bucket}`);
    return resolved;
  };
  store.getResourcePath = (bucket, key, resource) => {
    const folder = store.getBucketPath(bucket);
    // No key (or an empty one) names a bucket-level resource such as the uploads folder or the CORS config.
    if (key !== undefined && key !== '') {
      const problem = keyProblem(key);
      if (problem) refuse(problem, { ArgumentName: 'key', ArgumentValue: key });
    }
    const resolved = path.resolve(resourcePath(bucket, key, resource));
    if (!isInside(folder, resolved)) escaped(`key ${key ?? ''}`);
    return resolved;
  };
  // A folder in the data directory that is not a valid bucket name (e.g. a stray file) is no bucket; asking
  // for it is not an error (ListBuckets asks for every entry).
  store.getBucket = (bucket) => (bucketNameProblem(bucket) ? Promise.resolve(null) : getBucket(bucket));

  const checkUpload = (bucket: string, uploadId: string): void => {
    if (typeof uploadId !== 'string' || !UPLOAD_ID.test(uploadId)) {
      throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', {
        UploadId: String(uploadId).slice(0, 200),
      });
    }
    const uploads = store.getResourcePath(bucket, undefined, 'uploads');
    if (!isInside(uploads, path.join(uploads, uploadId))) escaped(`upload ${uploadId}`);
  };
  const checkPartNumber = (partNumber: unknown): void => {
    if (!/^\d{1,5}$/.test(String(partNumber)) || Number(partNumber) < 1 || Number(partNumber) > 10000) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
        ArgumentName: 'partNumber',
        ArgumentValue: String(partNumber).slice(0, 200),
      });
    }
  };
  store.initiateUpload = async (bucket, key, uploadId, metadata) => {
    checkUpload(bucket, uploadId);
    store.getResourcePath(bucket, key, 'object'); // checks the key the upload will complete to
    return initiateUpload(bucket, key, uploadId, metadata);
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    checkUpload(bucket, uploadId);
    checkPartNumber(partNumber);
    return putPart(bucket, uploadId, partNumber, content);
  };
  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    checkUpload(bucket, uploadId);
    for (const part of parts) checkPartNumber(part.number);
    return putObjectMultipart(bucket, uploadId, parts);
  };
}

/**
 * s3rver writes an object in place and answers the PUT before the file is flushed, so a GET during or
 * just after a PUT can read a partial object — which S3 never shows (seen as an empty result read by the
 * EC2 backend's poll). Objects are written to a temp file beside the object, flushed, then renamed over
 * it, so readers see the old object or the new one, never a part.
 *
 * s3rver's GET also reads the object's size (stat) and opens the file in two steps: a rename in between would
 * serve the new file cut to the old size. So the rename with its metadata, and a GET's stat-and-open, take a
 * per-key lock; once the file is open, a later rename no longer affects what the reader streams.
 */
function makeObjectWritesAtomic(store: S3rverStore): void {
  const locks = new Map<string, Promise<void>>();
  const withKeyLock = async <T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const previous = locks.get(id) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    locks.set(id, mine);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (locks.get(id) === mine) locks.delete(id);
    }
  };
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key, options) => withKeyLock(bucket, key, () => getObject(bucket, key, options));

  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await fsp.mkdir(path.dirname(objectPath), { recursive: true });
    const temp = `${objectPath}.${randomBytes(8).toString('hex')}.tmp`; // never ends with OBJECT_SUFFIX: listing skips it
    const md5 = createHash('md5');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
      await pipeline(source, hashing, createWriteStream(temp));
    } catch (error) {
      await fsp.rm(temp, { force: true });
      // A body the front rejected (bad checksum, malformed aws-chunked): s3rver answers it with the right
      // status only when it is s3rver's own S3Error.
      if (error instanceof FrontError) throw new (loadS3rver().S3Error)(error.code, error.message, error.detail);
      throw error;
    }
    const digest = md5.digest('hex');
    await withKeyLock(object.bucket, object.key, async () => {
      try {
        await fsp.rename(temp, objectPath);
      } catch (error) {
        await fsp.rm(temp, { force: true });
        throw error;
      }
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    });
    return { size, md5: digest };
  };
}

/** Suffixes s3rver's filesystem store appends to the names of what it keeps for a key. */
const OBJECT_SUFFIX = '._S3rver_object';
const UPLOADS_DIR = '._S3rver_uploads';
const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MIN_PART_SIZE = 5 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------
// Request bodies: aws-chunked decoding and checksum verification
// ---------------------------------------------------------------------------------------------------------

/** S3's own answers to a request it does not authenticate (AWS answers a missing or page-sent one AccessDenied). */
const S3_AUTH_ERRORS: Record<GuardRefusal['reason'], string> = {
  browser: 'AccessDenied',
  host: 'AccessDenied',
  missing: 'AccessDenied',
  malformed: 'AccessDenied',
  expired: 'AccessDenied',
  'unknown-key': 'InvalidAccessKeyId',
  'bad-signature': 'SignatureDoesNotMatch',
};

/** An S3 error raised by the front (rendered with s3rver's error XML). */
class FrontError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type ChecksumName = 'crc32' | 'sha1' | 'sha256' | 'md5';

interface Checksum {
  readonly header: string;
  update(data: Buffer): void;
  digest(): string;
}

function createChecksum(name: ChecksumName, header: string): Checksum | undefined {
  if (name === 'crc32') {
    // zlib.crc32 exists from Node 20.15 / 22.2; without it CRC32 checksums are not verified.
    if (typeof zlib.crc32 !== 'function') return undefined;
    let value = 0;
    return {
      header,
      update: (data) => {
        value = zlib.crc32(data, value);
      },
      digest: () => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(value >>> 0);
        return out.toString('base64');
      },
    };
  }
  const hash: Hash = createHash(name);
  return {
    header,
    update: (data) => {
      hash.update(data);
    },
    digest: () => hash.digest('base64'),
  };
}

const CHECKSUM_HEADERS: Record<string, ChecksumName> = {
  'x-amz-checksum-crc32': 'crc32',
  'x-amz-checksum-sha1': 'sha1',
  'x-amz-checksum-sha256': 'sha256',
  'content-md5': 'md5',
};

const STREAMING_PAYLOAD = /^STREAMING-(UNSIGNED-PAYLOAD-TRAILER|AWS4-(HMAC-SHA256|ECDSA-P256-SHA256)-PAYLOAD(-TRAILER)?)$/;

function headerValue(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function isAwsChunked(headers: http.IncomingHttpHeaders): boolean {
  const encoding = headerValue(headers, 'content-encoding') ?? '';
  if (encoding.split(',').some((token) => token.trim().toLowerCase() === 'aws-chunked')) return true;
  return STREAMING_PAYLOAD.test(headerValue(headers, 'x-amz-content-sha256') ?? '');
}

/** Headers s3rver should see for a decoded body: what a client sending the plain body would have sent. */
function decodedHeaders(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const out: http.IncomingHttpHeaders = { ...headers };
  const encodings = (headerValue(headers, 'content-encoding') ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '' && token.toLowerCase() !== 'aws-chunked');
  if (encodings.length > 0) out['content-encoding'] = encodings.join(', ');
  else delete out['content-encoding'];
  const decodedLength = headerValue(headers, 'x-amz-decoded-content-length');
  if (decodedLength !== undefined && /^\d+$/.test(decodedLength)) out['content-length'] = decodedLength;
  else delete out['content-length'];
  delete out['transfer-encoding'];
  delete out['x-amz-decoded-content-length'];
  delete out['x-amz-trailer'];
  out['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  return out;
}

interface BodyOptions {
  /** Decode aws-chunked framing. */
  chunked: boolean;
  /** Verify checksums declared in headers or trailers. */
  verify: boolean;
}

/**
 * A request body as s3rver (a Koa app) sees it: a readable stream with the request's method, URL, headers
 * and socket. It decodes aws-chunked framing, checks the declared length and checksums, and when the body
 * turns out to be bad, fails the streams s3rver piped it into (s3rver uses `pipe`, which would otherwise
 * wait forever for an `end` that never comes).
 */
class RequestBody extends Transform {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: http.IncomingMessage['socket'];
  readonly connection: http.IncomingMessage['socket'];
  failure: FrontError | undefined;

  private failureForS3rver: Error | undefined;
  private readonly destinations: NodeJS.WritableStream[] = [];
  private readonly checksums = new Map<string, Checksum>();
  private readonly expectedLength: number | undefined;
  private readonly chunked: boolean;
  private pending: Buffer = Buffer.alloc(0);
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  private remaining = 0;
  private received = 0;
  private readonly trailers: Record<string, string> = {};

  constructor(source: Readable, original: http.IncomingMessage, headers: http.IncomingHttpHeaders, options: BodyOptions) {
    super();
    this.method = original.method;
    this.url = original.url;
    this.headers = options.chunked ? decodedHeaders(headers) : { ...headers };
    this.rawHeaders = original.rawHeaders;
    this.httpVersion = original.httpVersion;
    this.httpVersionMajor = original.httpVersionMajor;
    this.httpVersionMinor = original.httpVersionMinor;
    this.socket = original.socket;
    this.connection = original.socket;
    this.chunked = options.chunked;

    const declared = options.chunked
      ? headerValue(headers, 'x-amz-decoded-content-length')
      : headerValue(headers, 'content-length');
    this.expectedLength = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;

    if (options.verify) {
      const names = new Set(Object.keys(CHECKSUM_HEADERS).filter((name) => headers[name] !== undefined));
      for (const trailer of (headerValue(headers, 'x-amz-trailer') ?? '').split(',')) {
        const name = trailer.trim().toLowerCase();
        if (name in CHECKSUM_HEADERS) names.add(name);
      }
      for (const name of names) {
        const algorithm = CHECKSUM_HEADERS[name];
        const checksum = algorithm && createChecksum(algorithm, name);
        if (checksum) this.checksums.set(name, checksum);
      }
    }

    // Nobody may be listening when the body fails (s3rver pipes it); failures reach s3rver via `fail`.
    this.on('error', () => {});
    source.on('error', () => this.fail(incompleteBody()));
    source.on('close', () => {
      if (source instanceof http.IncomingMessage && !source.complete) this.fail(incompleteBody());
    });
    source.pipe(this);
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    const failure = this.failureForS3rver;
    if (failure) {
      // The body failed before s3rver got to read it (small bodies are read completely before s3rver's
      // store asks for them): fail its stream as soon as it has wired it up.
      process.nextTick(() => destroyChain(destination, failure));
      return destination;
    }
    this.destinations.push(destination);
    return super.pipe(destination, options);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failure) return callback();
    try {
      if (this.chunked) this.decode(chunk);
      else this.emitData(chunk);
      callback();
    } catch (error) {
      this.fail(error instanceof FrontError ? error : new FrontError('InvalidRequest', String(error)));
      callback();
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.failure) return callback();
    const problem = this.finish();
    if (problem) {
      this.fail(problem);
      return callback();
    }
    callback();
  }

  /** Fails the body: s3rver's consumers see an error with an S3 code, and the body never ends normally. */
  fail(error: FrontError): void {
    if (this.failure || this.writableFinished) return;
    this.failure = error;
    // s3rver turns errors into responses only when they are its own S3Error class.
    const { S3Error } = loadS3rver();
    const s3Error = new S3Error(error.code, error.message, error.detail);
    this.failureForS3rver = s3Error;
    for (const destination of this.destinations) destroyChain(destination, s3Error);
    this.destroy(error);
  }

  private emitData(data: Buffer): void {
    if (data.length === 0) return;
    this.received += data.length;
    for (const checksum of this.checksums.values()) checksum.update(data);
    this.push(data);
  }

  private decode(chunk: Buffer): void {
    const buffer = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, buffer.length - pos);
        if (take === 0) break;
        this.emitData(buffer.subarray(pos, pos + take));
        pos += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'data-end';
        continue;
      }
      if (this.state === 'data-end') {
        if (buffer.length - pos < 2) break;
        if (buffer[pos] !== 0x0d || buffer[pos + 1] !== 0x0a) throw malformedChunk('missing CRLF after chunk data');
        pos += 2;
        this.state = 'size';
        continue;
      }
      if (this.state === 'done') {
        pos = buffer.length; // anything after the final CRLF is ignored
        break;
      }
      const lineEnd = buffer.indexOf('\r\n', pos, 'latin1');
      if (lineEnd === -1) {
        if (buffer.length - pos > 8192) throw malformedChunk('chunk header or trailer line too long');
        break;
      }
      const line = buffer.toString('latin1', pos, lineEnd);
      pos = lineEnd + 2;
      if (this.state === 'size') {
        const size = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line.trim());
        if (!size?.[1]) throw malformedChunk(`bad chunk header "${line.slice(0, 100)}"`);
        this.remaining = parseInt(size[1], 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.state = 'done';
      } else {
        this.addTrailer(line);
      }
    }
    const rest = buffer.subarray(pos);
    // Copy small leftovers so a large chunk is not kept alive by a few bytes of it.
    this.pending = rest.length > 0 && rest.length < 1024 ? Buffer.from(rest) : rest;
  }

  private addTrailer(line: string): void {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformedChunk(`bad trailer "${line.slice(0, 100)}"`);
    this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }

  /** End-of-body checks; returns the problem, if any. */
  private finish(): FrontError | undefined {
    if (this.chunked && this.state !== 'done') {
      if (this.state !== 'trailer') return incompleteBody();
      // Be lenient about a missing final CRLF after the trailers.
      const last = this.pending.toString('latin1').trim();
      if (last !== '') {
        try {
          this.addTrailer(last);
        } catch (error) {
          return error as FrontError;
        }
      }
      this.state = 'done';
    }
    if (this.expectedLength !== undefined && this.received !== this.expectedLength) return incompleteBody();
    for (const [name, checksum] of this.checksums) {
      const expected = this.trailers[name] ?? headerValue(this.headers, name);
      if (expected === undefined) {
        return new FrontError('InvalidRequest', `The checksum ${name} was announced but not sent.`);
      }
      const actual = checksum.digest();
      if (actual !== expected.trim()) {
        const label = name === 'content-md5' ? 'Content-MD5' : name.slice('x-amz-checksum-'.length).toUpperCase();
        return new FrontError('BadDigest', `The ${label} you specified did not match the calculated checksum.`, {
          Expected: expected,
          Calculated: actual,
        });
      }
    }
    return undefined;
  }
}

function malformedChunk(why: string): FrontError {
  return new FrontError('InvalidRequest', `Malformed aws-chunked body: ${why}.`);
}

function incompleteBody(): FrontError {
  return new FrontError(
    'IncompleteBody',
    'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  );
}

/**
 * Fails a stream s3rver piped the body into (so the s3rver operation fails with the error), and closes what
 * that stream pipes into (s3rver's store pipes through a hashing Transform into a file write stream, which
 * would otherwise stay open).
 */
function destroyChain(stream: NodeJS.WritableStream, error: Error | undefined, depth = 0): void {
  const node = stream as NodeJS.WritableStream & {
    destroy?: (error?: Error) => void;
    listenerCount?: (event: string) => number;
    _readableState?: { pipes?: unknown };
  };
  // `_readableState.pipes` is Node's list of pipe destinations; used best-effort, only on this error path.
  const next = node._readableState?.pipes;
  if (error && node.listenerCount?.('error') === 0) node.on('error', () => {}); // never crash the server
  if (typeof node.destroy === 'function') node.destroy(error);
  if (depth < 4 && Array.isArray(next)) {
    for (const destination of next) {
      if (destination && typeof destination === 'object') destroyChain(destination as NodeJS.WritableStream, undefined, depth + 1);
    }
  }
}

async function readBody(body: RequestBody, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const data = chunk as Buffer;
    size += data.length;
    if (size > limit) throw new FrontError('MaxMessageLengthExceeded', 'Your request was too big.');
    chunks.push(data);
  }
  if (body.failure) throw body.failure;
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------------------
// Small XML helpers
// ---------------------------------------------------------------------------------------------------------

function xmlEscape(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\r/g, '&#13;');
}

function xmlUnescape(value: string): string {
  return value.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, entity: string) => {
    switch (entity) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10));
    }
  });
}

function tag(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

/** The text of each `<name>` element in `xml` (no nesting of the same name is expected). */
function elements(xml: string, name: string): string[] {
  const out: string[] = [];
  const pattern = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, 'g');
  for (const match of xml.matchAll(pattern)) out.push(match[1] ?? '');
  return out;
}

function firstElement(xml: string, name: string): string | undefined {
  const value = elements(xml, name)[0];
  return value === undefined ? undefined : xmlUnescape(value.replace(/^<!\[CDATA\[([\s\S]*)\]\]>$/, '$1'));
}

// ---------------------------------------------------------------------------------------------------------
// Listing, in S3's order (UTF-8 bytes), straight from s3rver's store directory
// ---------------------------------------------------------------------------------------------------------

interface ListQuery {
  prefix: string;
  delimiter: string;
  /** Only keys after this (UTF-8 byte order). */
  startAfter: string;
  /** A common prefix returned on an earlier page: everything under it is skipped. */
  skipUnder: string;
  maxKeys: number;
}

interface ListItem {
  value: string;
  isPrefix: boolean;
}

interface ListResult {
  keys: string[];
  commonPrefixes: string[];
  truncated: boolean;
  last: ListItem | undefined;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function hasAnyObject(dir: string): Promise<boolean> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith(OBJECT_SUFFIX)) return true;
  }
  for (const entry of entries) {
    if (entry.isDirectory() && (await hasAnyObject(path.join(dir, entry.name)))) return true;
  }
  return false;
}

/**
 * Keys of a bucket in UTF-8 byte order, walking s3rver's directory tree lazily. A directory `d` holds keys
 * starting with `d/`; sorting a directory's files by key and its subdirectories by `name/` gives the global
 * order. Subtrees outside the prefix, before `startAfter` or under `skipUnder` are not read; a subtree that
 * lies inside one common prefix is reported as that prefix without being read.
 */
async function* walkKeys(bucketDir: string, rel: string, query: ListQuery): AsyncGenerator<{ key: string } | { prefix: string }> {
  const dir = path.join(bucketDir, rel);
  // `rel` is built from names readdir returned, never from the request; checked all the same.
  if (rel !== '' && !isInside(bucketDir, dir)) throw new Error(`listing left the bucket folder ${bucketDir} for ${dir}`);
  let dirents;
  try {
    dirents = await fsp.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  const entries: { name: string; sortKey: Buffer; isDir: boolean }[] = [];
  for (const dirent of dirents) {
    if (dirent.isDirectory()) {
      if (rel === '' && dirent.name === UPLOADS_DIR) continue;
      const name = `${rel}${dirent.name}/`;
      entries.push({ name, sortKey: Buffer.from(name, 'utf8'), isDir: true });
    } else if (dirent.isFile() && dirent.name.endsWith(OBJECT_SUFFIX)) {
      const key = rel + dirent.name.slice(0, -OBJECT_SUFFIX.length);
      if (key !== '') entries.push({ name: key, sortKey: Buffer.from(key, 'utf8'), isDir: false });
    }
  }
  entries.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));

  for (const entry of entries) {
    if (!entry.isDir) {
      yield { key: entry.name };
      continue;
    }
    const dir = entry.name; // every key below starts with `dir`
    if (!dir.startsWith(query.prefix) && !query.prefix.startsWith(dir)) continue;
    const startAfterInside = query.startAfter !== '' && query.startAfter.startsWith(dir);
    if (query.startAfter !== '' && !startAfterInside && compareUtf8(dir, query.startAfter) < 0) continue;
    if (query.skipUnder !== '' && dir.startsWith(query.skipUnder)) continue;
    if (query.delimiter !== '' && dir.startsWith(query.prefix) && !startAfterInside) {
      const at = dir.indexOf(query.delimiter, query.prefix.length);
      if (at !== -1) {
        if (await hasAnyObject(path.join(bucketDir, dir))) yield { prefix: dir.slice(0, at + query.delimiter.length) };
        continue;
      }
    }
    yield* walkKeys(bucketDir, dir, query);
  }
}

async function listBucket(bucketDir: string, query: ListQuery): Promise<ListResult> {
  const result: ListResult = { keys: [], commonPrefixes: [], truncated: false, last: undefined };
  if (query.maxKeys === 0) return result;
  let lastPrefix: string | undefined;
  for await (const entry of walkKeys(bucketDir, '', query)) {
    let item: ListItem;
    if ('prefix' in entry) {
      item = { value: entry.prefix, isPrefix: true };
    } else {
      const { key } = entry;
      if (!key.startsWith(query.prefix)) continue;
      if (query.startAfter !== '' && compareUtf8(key, query.startAfter) <= 0) continue;
      if (query.skipUnder !== '' && key.startsWith(query.skipUnder)) continue;
      const at = query.delimiter === '' ? -1 : key.indexOf(query.delimiter, query.prefix.length);
      item = at === -1 ? { value: key, isPrefix: false } : { value: key.slice(0, at + query.delimiter.length), isPrefix: true };
    }
    if (item.isPrefix) {
      if (item.value === lastPrefix || item.value === query.skipUnder) continue;
      lastPrefix = item.value;
    }
    if (result.keys.length + result.commonPrefixes.length === query.maxKeys) {
      result.truncated = true;
      break;
    }
    (item.isPrefix ? result.commonPrefixes : result.keys).push(item.value);
    result.last = item;
  }
  return result;
}

function encodeContinuationToken(item: ListItem): string {
  return Buffer.from(JSON.stringify([item.value, item.isPrefix ? 1 : 0]), 'utf8').toString('base64url');
}

function decodeContinuationToken(token: string): ListItem | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && typeof parsed[0] === 'string' && (parsed[1] === 0 || parsed[1] === 1)) {
      return { value: parsed[0], isPrefix: parsed[1] === 1 };
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** `encoding-type=url` as S3 applies it in listings (`/` left as is). */
function encodeListValue(value: string, urlEncoding: boolean): string {
  return urlEncoding ? encodeURIComponent(value).replace(/%2F/g, '/') : value;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      out[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------

type Operation =
  | 'ListObjects'
  | 'ListObjectsV2'
  | 'DeleteObjects'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'CopyObject'
  | 'PutObject'
  | 'PostObject'
  | 'GetObject'
  | 'DeleteObject'
  | 'Other';

interface RequestContext {
  operation: Operation;
  sourceIp: string;
  requestId: string;
}

interface Target {
  bucket: string | undefined;
  key: string | undefined;
}

const LIST_PARAMS = new Set([
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'marker',
  'continuation-token',
  'start-after',
  'fetch-owner',
  'encoding-type',
  'x-id',
  'Signature',
  'AWSAccessKeyId',
  'Expires',
]);

/**
 * Bucket and key of a path-style request path, percent-decoded; undefined when the path cannot be decoded.
 * Names are checked by `checkTarget`, and s3rver is then handed a path the front built itself
 * (`canonicalPath`), so the front and s3rver never disagree on what a request names.
 */
function parseTarget(pathname: string): Target | undefined {
  const trimmed = pathname.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  try {
    const bucket = decodeURIComponent(slash === -1 ? trimmed : trimmed.slice(0, slash));
    const key = slash === -1 ? '' : decodeURIComponent(trimmed.slice(slash + 1));
    return { bucket: bucket === '' ? undefined : bucket, key: key === '' ? undefined : key };
  } catch {
    return undefined;
  }
}

function frontProblem(problem: NameProblem, detail: Record<string, unknown>): FrontError {
  return new FrontError(problem.code, problem.message, detail);
}

/** Refuses a request whose path cannot be decoded, names an invalid bucket or has a key S3 keys cannot be here. */
function checkTarget(target: Target | undefined): asserts target is Target {
  if (target === undefined) throw new FrontError('InvalidURI', "Couldn't parse the specified URI: it is not valid percent-encoded UTF-8.");
  if (target.bucket !== undefined) {
    const problem = bucketNameProblem(target.bucket);
    if (problem) throw frontProblem(problem, { BucketName: target.bucket.slice(0, 200) });
  }
  if (target.key !== undefined) {
    const problem = keyProblem(target.key);
    if (problem) throw frontProblem(problem, { ArgumentName: 'key', ArgumentValue: target.key.slice(0, 1100) });
  }
}

/** The path s3rver gets: the checked bucket and key, each path segment percent-encoded as s3rver's router decodes it. */
function canonicalPath(target: Target, rawUrl: string): string {
  const question = rawUrl.indexOf('?');
  const search = question === -1 ? '' : rawUrl.slice(question);
  if (target.bucket === undefined) return `/${search}`;
  const key = target.key === undefined ? '' : '/' + target.key.split('/').map(encodeURIComponent).join('/');
  return `/${encodeURIComponent(target.bucket)}${key}${search}`;
}

/**
 * The bucket and key an `x-amz-copy-source` header names (`bucket/key` or `/bucket/key`, URL-encoded as S3
 * requires, optionally `?versionId=`), checked like a request's own bucket and key.
 */
function parseCopySource(raw: string): { bucket: string; key: string } {
  const question = raw.indexOf('?'); // `?versionId=`: no versioning here
  let decoded: string;
  try {
    decoded = decodeURIComponent(question === -1 ? raw : raw.slice(0, question));
  } catch {
    throw new FrontError('InvalidArgument', 'Invalid copy source encoding: x-amz-copy-source must be URL-encoded UTF-8.', {
      ArgumentName: 'x-amz-copy-source',
      ArgumentValue: raw.slice(0, 1100),
    });
  }
  const source = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) {
    throw new FrontError('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', {
      ArgumentName: 'x-amz-copy-source',
      ArgumentValue: raw.slice(0, 1100),
    });
  }
  const bucket = source.slice(0, slash);
  const key = source.slice(slash + 1);
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) throw frontProblem(bucketProblem, { BucketName: bucket.slice(0, 200) });
  const problem = keyProblem(key);
  if (problem) throw frontProblem(problem, { ArgumentName: 'x-amz-copy-source', ArgumentValue: raw.slice(0, 1100) });
  return { bucket, key };
}

function classify(method: string, target: Target | undefined, query: URLSearchParams, headers: http.IncomingHttpHeaders): Operation {
  if (!target?.bucket) return 'Other';
  if (target.key === undefined) {
    if (method === 'GET' && [...query.keys()].every((name) => LIST_PARAMS.has(name) || name.toLowerCase().startsWith('x-amz-'))) {
      return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    }
    if (method === 'POST') return query.has('delete') ? 'DeleteObjects' : 'PostObject';
    return 'Other';
  }
  switch (method) {
    case 'PUT':
      if (query.has('uploadId')) return query.has('partNumber') ? 'UploadPart' : 'Other';
      if (query.has('tagging') || query.has('acl')) return 'Other';
      return headers['x-amz-copy-source'] !== undefined ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (query.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Other';
    case 'GET':
    case 'HEAD':
      return [...query.keys()].some((name) => ['acl', 'tagging', 'uploadId', 'torrent', 'legal-hold', 'retention'].includes(name))
        ? 'Other'
        : 'GetObject';
    case 'DELETE':
      if (query.has('uploadId')) return 'AbortMultipartUpload';
      return query.has('tagging') ? 'Other' : 'DeleteObject';
    default:
      return 'Other';
  }
}

function accessKeyIdOf(headers: http.IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const authorization = headerValue(headers, 'authorization');
  if (authorization) {
    const v4 = /Credential=([^/,\s]+)\//.exec(authorization);
    if (v4?.[1]) return v4[1];
    const v2 = /^AWS ([^:\s]+):/.exec(authorization);
    if (v2?.[1]) return v2[1];
  }
  const credential = query.get('X-Amz-Credential');
  if (credential) return credential.split('/')[0];
  return query.get('AWSAccessKeyId') ?? undefined;
}

class Sequencer {
  private last = 0n;
  next(): string {
    const now = BigInt(Date.now()) << 12n;
    this.last = now > this.last ? now : this.last + 1n;
    return this.last.toString(16).toUpperCase().padStart(16, '0');
  }
}

function log(message: string): void {
  process.stderr.write(`[s3] ${message}\n`);
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export async function startS3Server(options: S3ServerOptions): Promise<RunningS3Server> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const rules = options.rules ?? [];
  const silent = options.silent ?? false;
  for (const bucket of options.buckets) {
    const problem = bucketNameProblem(bucket);
    if (problem) throw new Error(problem.message);
  }
  for (const rule of rules) {
    if (!Array.isArray(rule.events) || rule.events.length === 0) {
      throw new Error(`Notification rule for "${rule.target}" has no events`);
    }
  }

  const directory = path.resolve(options.directory);
  await fsp.mkdir(directory, { recursive: true });

  const { S3rver, S3Error, account } = loadS3rver();
  const s3rver = new S3rver({
    directory,
    silent: true, // s3rver logs to stdout, which the CLI reserves for JSON lines; the front logs to stderr
    allowMismatchedSignatures: true,
    vhostBuckets: false,
    resetOnClose: false,
    configureBuckets: [],
  });
  const store = s3rver.store;
  confineStore(store, directory);
  makeObjectWritesAtomic(store);
  for (const bucket of options.buckets) await store.putBucket(bucket);

  const contexts = new AsyncLocalStorage<RequestContext>();
  const sequencer = new Sequencer();
  const ownerId = 'A' + createHash('sha256').update(directory).digest('hex').slice(0, 13).toUpperCase();

  // ---- notifications ----

  interface ObjectEvent {
    eventName: string;
    bucket: string;
    key: string;
    size?: number;
    eTag?: string;
  }

  function notify(event: ObjectEvent, context: RequestContext | undefined): void {
    const sequencerValue = sequencer.next();
    rules.forEach((rule, index) => {
      if (!matchesRule(rule, event.bucket, event.key, event.eventName)) return;
      const record: S3EventRecordLike = {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: region,
        eventTime: new Date().toISOString(),
        eventName: event.eventName,
        userIdentity: { principalId: `AWS:${ownerId}` },
        requestParameters: { sourceIPAddress: context?.sourceIp ?? '127.0.0.1' },
        responseElements: {
          'x-amz-request-id': context?.requestId ?? randomBytes(8).toString('hex').toUpperCase(),
          'x-amz-id-2': randomBytes(48).toString('base64'),
        },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: rule.id ?? `${rule.target}-${index}`,
          bucket: { name: event.bucket, ownerIdentity: { principalId: ownerId }, arn: `arn:aws:s3:::${event.bucket}` },
          object: {
            key: encodeS3EventKey(event.key),
            ...(event.size === undefined ? {} : { size: event.size }),
            ...(event.eTag === undefined ? {} : { eTag: event.eTag }),
            sequencer: sequencerValue,
          },
        },
      };
      const deliver = options.onNotification;
      if (!deliver) return;
      try {
        const pending = deliver(rule.target, { Records: [record] });
        if (pending && typeof pending.then === 'function') {
          pending.then(undefined, (error: unknown) => log(`notification to ${rule.target} failed: ${describeError(error)}`));
        }
      } catch (error) {
        log(`notification to ${rule.target} failed: ${describeError(error)}`);
      }
    });
  }

  /** Turns s3rver's event (emitted inside the request, so the request context is available) into ours. */
  async function onS3rverEvent(raw: unknown, context: RequestContext | undefined): Promise<void> {
    const record = (raw as { Records?: { eventName?: unknown; s3?: { bucket?: { name?: unknown }; object?: Record<string, unknown> } }[] })
      .Records?.[0];
    const bucket = record?.s3?.bucket?.name;
    const object = record?.s3?.object;
    const key = object?.key;
    if (typeof bucket !== 'string' || typeof key !== 'string' || typeof record?.eventName !== 'string') return;
    let eventName = record.eventName;
    if (eventName === 'ObjectCreated:Post' && context?.operation === 'CompleteMultipartUpload') {
      eventName = 'ObjectCreated:CompleteMultipartUpload';
    }
    if (eventName.startsWith('ObjectRemoved:')) {
      notify({ eventName, bucket, key }, context);
      return;
    }
    let size = typeof object?.size === 'number' && Number.isFinite(object.size) ? object.size : undefined;
    let eTag = typeof object?.eTag === 'string' ? object.eTag.replace(/"/g, '') : undefined;
    if (size === undefined || eTag === undefined) {
      // s3rver leaves the ETag out of copy events; read it back.
      const metadata = await store.getMetadata(bucket, key);
      size ??= Number(metadata['content-length']);
      eTag ??= String(metadata.etag ?? '').replace(/"/g, '');
    }
    notify({ eventName, bucket, key, size, eTag }, context);
  }

  s3rver.on('event', (raw) => {
    const context = contexts.getStore();
    onS3rverEvent(raw, context).catch((error: unknown) => log(`could not build notification: ${describeError(error)}`));
  });
  s3rver.on('error', (error) => {
    const { status, code } = (error ?? {}) as { status?: unknown; code?: unknown };
    if (typeof code === 'string' && /^(HPE_|ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE)/.test(code)) {
      if (!silent) log(`request aborted by the client (${code})`);
    } else if (typeof status !== 'number' || status >= 500) {
      log(`internal error: ${describeError(error)}`);
    }
  });
  const s3rverHandler = s3rver.callback();

  // ---- helpers for the front ----

  function sendXml(res: http.ServerResponse, status: number, xml: string, method: string | undefined): void {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/xml');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(method === 'HEAD' ? undefined : body);
  }

  function sendError(res: http.ServerResponse, error: FrontError, method: string | undefined): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const s3Error = new S3Error(error.code, error.message, error.detail);
    res.statusCode = s3Error.status;
    const xml = s3Error.toXML();
    res.setHeader('Content-Type', 'application/xml');
    res.setHeader('Content-Length', Buffer.byteLength(xml));
    res.end(method === 'HEAD' ? undefined : xml);
  }

  function registerAccessKey(id: string | undefined): void {
    if (id && !account.registry.has(id)) account.DUMMY_ACCOUNT.createKeyPair(id, id);
  }

  async function requireBucket(bucket: string): Promise<void> {
    if (!(await store.getBucket(bucket))) {
      throw new FrontError('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    }
  }

  function uploadDir(bucket: string, uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw noSuchUpload(uploadId);
    const uploads = store.getResourcePath(bucket, undefined, 'uploads');
    const dir = path.join(uploads, uploadId);
    if (!isInside(uploads, dir)) throw noSuchUpload(uploadId);
    return dir;
  }

  function noSuchUpload(uploadId: string): FrontError {
    return new FrontError(
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      { UploadId: uploadId },
    );
  }

  /**
   * The folder of an upload of `key`. An upload id used with another key is NoSuchUpload, as on S3: s3rver
   * would store the parts under the upload's own key and announce the URL's key.
   */
  async function requireUpload(bucket: string, key: string, uploadId: string): Promise<string> {
    await requireBucket(bucket);
    const dir = uploadDir(bucket, uploadId);
    let uploadKey: string;
    try {
      uploadKey = await fsp.readFile(path.join(dir, 'key'), 'utf8');
    } catch (error) {
      if (isMissing(error)) throw noSuchUpload(uploadId);
      throw error;
    }
    if (uploadKey !== key) throw noSuchUpload(uploadId);
    return dir;
  }

  function bodyOf(req: http.IncomingMessage, source: Readable = req, headers = req.headers): RequestBody {
    return new RequestBody(source, req, headers, { chunked: source === req && isAwsChunked(req.headers), verify: true });
  }

  /** Reads and verifies a whole body, and returns a stand-in request stream for s3rver that replays it. */
  async function bufferedBody(req: http.IncomingMessage, limit: number): Promise<RequestBody & { content: Buffer }> {
    const content = await readBody(bodyOf(req), limit);
    const headers = isAwsChunked(req.headers) ? decodedHeaders(req.headers) : { ...req.headers };
    headers['content-length'] = String(content.length);
    delete headers['transfer-encoding'];
    return Object.assign(new RequestBody(Readable.from([content]), req, headers, { chunked: false, verify: false }), { content });
  }

  /** Passes a request to s3rver, with `body` standing in for the request stream when given. */
  function toS3rver(req: http.IncomingMessage, res: http.ServerResponse, body?: RequestBody): Promise<void> {
    // Koa reads only the stream, method, url, headers, socket and HTTP version of the request object.
    return s3rverHandler(body ? (body as unknown as http.IncomingMessage) : req, res);
  }

  // ---- operations answered by the front ----

  async function handleList(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, query: URLSearchParams, v2: boolean): Promise<void> {
    await requireBucket(bucket);
    const rawMaxKeys = query.get('max-keys');
    let maxKeys = 1000;
    if (rawMaxKeys !== null) {
      if (!/^\d+$/.test(rawMaxKeys)) {
        throw new FrontError('InvalidArgument', 'Provided max-keys not an integer or within integer range', {
          ArgumentName: 'max-keys',
          ArgumentValue: rawMaxKeys,
        });
      }
      maxKeys = Math.min(1000, Number(rawMaxKeys));
    }
    const encodingType = query.get('encoding-type');
    if (encodingType !== null && encodingType !== 'url') {
      throw new FrontError('InvalidArgument', 'Invalid Encoding Method specified in Request', {
        ArgumentName: 'encoding-type',
        ArgumentValue: encodingType,
      });
    }
    const url = encodingType === 'url';
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const listQuery: ListQuery = { prefix, delimiter, startAfter: '', skipUnder: '', maxKeys };

    const token = query.get('continuation-token');
    if (v2) {
      if (token !== null) {
        const item = decodeContinuationToken(token);
        if (!item) {
          throw new FrontError('InvalidArgument', 'The continuation token provided is incorrect', {
            ArgumentName: 'continuation-token',
          });
        }
        listQuery.startAfter = item.value;
        listQuery.skipUnder = item.isPrefix ? item.value : '';
      } else {
        listQuery.startAfter = query.get('start-after') ?? '';
      }
    } else {
      const marker = query.get('marker') ?? '';
      listQuery.startAfter = marker;
      // A V1 NextMarker may be a common prefix: then the whole prefix was already returned.
      if (delimiter !== '' && marker.startsWith(prefix) && marker.indexOf(delimiter, prefix.length) === marker.length - delimiter.length) {
        listQuery.skipUnder = marker;
      }
    }

    const result = await listBucket(store.getBucketPath(bucket), listQuery);
    const metadata = await mapLimit(result.keys, 32, async (key) => {
      try {
        return await store.getMetadata(bucket, key);
      } catch (error) {
        if (isMissing(error)) return undefined; // deleted meanwhile
        throw error;
      }
    });
    const withOwner = v2 ? query.get('fetch-owner') === 'true' : true;
    const owner = withOwner
      ? `<Owner>${tag('ID', String(account.DUMMY_ACCOUNT.id))}${tag('DisplayName', account.DUMMY_ACCOUNT.displayName)}</Owner>`
      : '';
    let contents = '';
    let keyCount = result.commonPrefixes.length;
    result.keys.forEach((key, index) => {
      const meta = metadata[index];
      if (!meta) return;
      keyCount++;
      contents +=
        '<Contents>' +
        tag('Key', encodeListValue(key, url)) +
        tag('LastModified', new Date(String(meta['last-modified'])).toISOString()) +
        tag('ETag', String(meta.etag)) +
        tag('Size', Number(meta['content-length'])) +
        owner +
        tag('StorageClass', 'STANDARD') +
        '</Contents>';
    });
    const prefixes = result.commonPrefixes.map((p) => `<CommonPrefixes>${tag('Prefix', encodeListValue(p, url))}</CommonPrefixes>`).join('');
    const optional = (name: string, value: string | null | undefined): string =>
      value === null || value === undefined || value === '' ? '' : tag(name, encodeListValue(value, url));

    let xml = `<ListBucketResult xmlns="${S3_XMLNS}">` + tag('Name', bucket) + tag('Prefix', encodeListValue(prefix, url));
    if (v2) {
      xml +=
        optional('Delimiter', delimiter) +
        tag('MaxKeys', rawMaxKeys ?? 1000) +
        (url ? tag('EncodingType', 'url') : '') +
        tag('KeyCount', keyCount) +
        tag('IsTruncated', result.truncated) +
        (token !== null ? tag('ContinuationToken', token) : '') +
        (result.truncated && result.last ? tag('NextContinuationToken', encodeContinuationToken(result.last)) : '') +
        (token === null ? optional('StartAfter', query.get('start-after')) : '');
    } else {
      xml +=
        tag('Marker', encodeListValue(query.get('marker') ?? '', url)) +
        (result.truncated && delimiter !== '' && result.last ? tag('NextMarker', encodeListValue(result.last.value, url)) : '') +
        tag('MaxKeys', rawMaxKeys ?? 1000) +
        optional('Delimiter', delimiter) +
        (url ? tag('EncodingType', 'url') : '') +
        tag('IsTruncated', result.truncated);
    }
    xml += contents + prefixes + '</ListBucketResult>';
    sendXml(res, 200, xml, req.method);
  }

  async function handleDeleteObjects(req: http.IncomingMessage, res: http.ServerResponse, bucket: string): Promise<void> {
    await requireBucket(bucket);
    const xmlBody = (await readBody(bodyOf(req), 2 * 1024 * 1024)).toString('utf8');
    if (!/<Delete[\s>]/.test(xmlBody)) {
      throw new FrontError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    }
    const quiet = firstElement(xmlBody, 'Quiet') === 'true';
    const keys = elements(xmlBody, 'Object').map((object) => firstElement(object, 'Key'));
    if (keys.length === 0 || keys.length > 1000 || keys.some((key) => key === undefined || key === '')) {
      throw new FrontError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    }
    const context = contexts.getStore();
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
          notify({ eventName: 'ObjectRemoved:Delete', bucket, key }, context);
        }
        if (!quiet) out += `<Deleted>${tag('Key', key)}</Deleted>`;
      } catch (error) {
        log(`DeleteObjects: could not delete "${key}": ${describeError(error)}`);
        out += `<Error>${tag('Key', key)}${tag('Code', 'InternalError')}${tag('Message', 'We encountered an internal error. Please try again.')}</Error>`;
      }
    }
    sendXml(res, 200, `<DeleteResult xmlns="${S3_XMLNS}">${out}</DeleteResult>`, req.method);
  }

  async function handleAbort(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, uploadId: string): Promise<void> {
    const dir = await requireUpload(bucket, key, uploadId);
    await fsp.rm(dir, { recursive: true, force: true });
    res.statusCode = 204;
    res.end();
  }

  async function validateCompletion(dir: string, uploadId: string, xmlBody: string): Promise<void> {
    const malformed = new FrontError(
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema.',
    );
    if (!/<CompleteMultipartUpload[\s>]/.test(xmlBody)) throw malformed;
    const parts = elements(xmlBody, 'Part').map((part) => ({
      number: Number(firstElement(part, 'PartNumber')),
      eTag: (firstElement(part, 'ETag') ?? '').replace(/"/g, '').trim(),
    }));
    if (parts.length === 0) throw malformed;
    let previous = 0;
    for (const [index, part] of parts.entries()) {
      if (!Number.isInteger(part.number) || part.number < 1 || part.number > 10000) throw malformed;
      if (part.number <= previous) {
        throw new FrontError('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', {
          UploadId: uploadId,
        });
      }
      previous = part.number;
      const partPath = path.join(dir, String(part.number));
      const invalidPart = new FrontError(
        'InvalidPart',
        "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
        { UploadId: uploadId, PartNumber: part.number, ETag: part.eTag },
      );
      let size: number;
      let md5: string;
      try {
        size = (await fsp.stat(partPath)).size;
        md5 = (await fsp.readFile(`${partPath}.md5`, 'utf8')).trim();
      } catch {
        throw invalidPart;
      }
      if (part.eTag !== md5) throw invalidPart;
      if (index < parts.length - 1 && size < MIN_PART_SIZE) {
        throw new FrontError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', {
          ProposedSize: size,
          MinSizeAllowed: MIN_PART_SIZE,
          PartNumber: part.number,
          ETag: part.eTag,
        });
      }
    }
  }

  /**
   * Adapts a Range header to what s3rver handles correctly. Returns true for `bytes=0-0` on a non-empty
   * object, which s3rver cannot serve (it reads the end 0 as "no end") and the front serves itself.
   */
  async function rewriteRange(req: http.IncomingMessage, bucket: string, key: string): Promise<boolean> {
    const range = headerValue(req.headers, 'range');
    if (range === undefined) return false;
    const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    // S3 ignores range headers it cannot use (multiple ranges, other units): the whole object is returned.
    if (!match || (match[1] === '' && match[2] === '')) {
      delete req.headers.range;
      return false;
    }
    const [, first = '', last = ''] = match;
    if (first !== '' && last !== '' && Number(first) > Number(last)) {
      delete req.headers.range;
      return false;
    }
    let metadata: ObjectMetadata;
    try {
      metadata = await store.getMetadata(bucket, key);
    } catch {
      return false; // s3rver reports the missing object
    }
    const size = Number(metadata['content-length']);
    if (size === 0 && first !== '') {
      delete req.headers.range; // s3rver would announce one byte and send none
    } else if (first === '') {
      // bytes=-N: the last N bytes (s3rver reads it as bytes=0-N)
      req.headers.range = `bytes=${Math.max(0, size - Number(last))}-`;
    } else if (last !== '' && Number(last) === 0) {
      return true;
    }
    return false;
  }

  /** GET/HEAD with `Range: bytes=0-0`, answered the way s3rver answers other ranges. */
  async function serveFirstByte(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, query: URLSearchParams): Promise<void> {
    let metadata: ObjectMetadata;
    let first: Buffer;
    try {
      metadata = await store.getMetadata(bucket, key);
      const handle = await fsp.open(store.getResourcePath(bucket, key, 'object'), 'r');
      try {
        first = Buffer.alloc(1);
        await handle.read(first, 0, 1, 0);
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isMissing(error)) throw new FrontError('NoSuchKey', 'The specified key does not exist.', { Key: key });
      throw error;
    }
    const etag = String(metadata.etag);
    const lastModified = new Date(String(metadata['last-modified']));
    const noneMatch = headerValue(req.headers, 'if-none-match');
    const modifiedSince = headerValue(req.headers, 'if-modified-since');
    if ((noneMatch !== undefined && (noneMatch === etag || noneMatch === '*')) || (modifiedSince !== undefined && new Date(modifiedSince) >= lastModified)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    for (const [name, value] of Object.entries(metadata)) {
      if (value !== undefined && name !== 'content-length') res.setHeader(name, String(value));
    }
    for (const [param, header] of [
      ['response-content-type', 'content-type'],
      ['response-content-language', 'content-language'],
      ['response-expires', 'expires'],
      ['response-cache-control', 'cache-control'],
      ['response-content-disposition', 'content-disposition'],
      ['response-content-encoding', 'content-encoding'],
    ] as const) {
      const value = query.get(param);
      if (value !== null) res.setHeader(header, value);
    }
    res.statusCode = 206;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Range', `bytes 0-0/${String(metadata['content-length'])}`);
    res.setHeader('Content-Length', 1);
    res.end(req.method === 'HEAD' ? undefined : first);
  }

  function rewriteCopySource(req: http.IncomingMessage): void {
    const raw = headerValue(req.headers, 'x-amz-copy-source');
    if (raw === undefined) return;
    const { bucket, key } = parseCopySource(raw);
    // s3rver applies decodeURI, which leaves %2B, %2F, %3F, ... encoded; hand it a form it decodes fully.
    req.headers['x-amz-copy-source'] = encodeURI(`/${bucket}/${key}`);
  }

  // ---- dispatch ----

  async function route(req: http.IncomingMessage, res: http.ServerResponse, context: RequestContext, target: Target | undefined, query: URLSearchParams): Promise<void> {
    checkTarget(target);
    // s3rver routes by the path it is given: give it the one just checked.
    req.url = canonicalPath(target, req.url ?? '/');
    const bucket = target.bucket ?? '';
    const key = target.key ?? '';
    // Every request that names a copy source has it checked, whatever operation it turns out to be.
    if (req.headers['x-amz-copy-source'] !== undefined) rewriteCopySource(req);
    switch (context.operation) {
      case 'PostObject':
        // Browser form uploads: a web page can send one cross-site without a preflight, and nothing here
        // uses them. Refused before s3rver parses the form.
        throw new FrontError('AccessDenied', 'Access Denied: the local S3 server does not accept browser form uploads (POST Object).');
      case 'ListObjects':
      case 'ListObjectsV2':
        return handleList(req, res, bucket, query, context.operation === 'ListObjectsV2');
      case 'DeleteObjects':
        return handleDeleteObjects(req, res, bucket);
      case 'AbortMultipartUpload':
        return handleAbort(req, res, bucket, key, query.get('uploadId') ?? '');
      case 'UploadPart': {
        const partNumber = query.get('partNumber') ?? '';
        if (!/^\d+$/.test(partNumber) || Number(partNumber) < 1 || Number(partNumber) > 10000) {
          throw new FrontError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
            ArgumentName: 'partNumber',
            ArgumentValue: partNumber,
          });
        }
        await requireUpload(bucket, key, query.get('uploadId') ?? '');
        return toS3rver(req, res, bodyOf(req));
      }
      case 'CompleteMultipartUpload': {
        const uploadId = query.get('uploadId') ?? '';
        const dir = await requireUpload(bucket, key, uploadId);
        const body = await bufferedBody(req, 2 * 1024 * 1024);
        await validateCompletion(dir, uploadId, body.content.toString('utf8'));
        return toS3rver(req, res, body);
      }
      case 'CopyObject':
        return toS3rver(req, res);
      case 'GetObject':
        if (await rewriteRange(req, bucket, key)) return serveFirstByte(req, res, bucket, key, query);
        return toS3rver(req, res);
      case 'PutObject': {
        const body = bodyOf(req);
        await toS3rver(req, res, body);
        // s3rver writes objects in place: a rejected or aborted body leaves a partial file. Better gone than corrupt.
        if (body.failure) await store.deleteObject(bucket, key).catch(() => {});
        return;
      }
      default: {
        const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
        if (isAwsChunked(req.headers) || (hasBody && Object.keys(CHECKSUM_HEADERS).some((name) => req.headers[name] !== undefined))) {
          // Other requests with bodies (tagging, bucket configuration) are small, and s3rver reads some of
          // them with 'data' listeners, which a late failure would not reach: verify first, then pass on.
          return toS3rver(req, res, await bufferedBody(req, 64 * 1024 * 1024));
        }
        return toS3rver(req, res);
      }
    }
  }

  const allowedHosts = new Set<string>();
  const server = http.createServer((req, res) => {
    const started = Date.now();
    const rawUrl = req.url ?? '/';
    const question = rawUrl.indexOf('?');
    const pathname = question === -1 ? rawUrl : rawUrl.slice(0, question);
    const query = new URLSearchParams(question === -1 ? '' : rawUrl.slice(question + 1));
    const target = parseTarget(pathname);
    const context: RequestContext = {
      operation: classify(req.method ?? 'GET', target, query, req.headers),
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      requestId: randomBytes(8).toString('hex').toUpperCase(),
    };
    res.setHeader('x-amz-request-id', context.requestId);
    res.once('finish', () => {
      if (!silent || res.statusCode >= 500) {
        log(`${req.method} ${rawUrl} ${context.operation} → ${res.statusCode} (${Date.now() - started} ms)`);
      }
    });
    const refusal = guardRequest(req, { credentials: options.credentials, allowedHosts, service: 's3' });
    if (refusal) {
      sendError(res, new FrontError(S3_AUTH_ERRORS[refusal.reason], refusal.message), req.method);
      req.resume(); // drain what the client still sends, so it reads the refusal instead of a reset
      return;
    }
    registerAccessKey(accessKeyIdOf(req.headers, query));
    contexts
      .run(context, () => route(req, res, context, target, query))
      .catch((error: unknown) => {
        if (error instanceof FrontError) {
          sendError(res, error, req.method);
        } else {
          log(`internal error on ${req.method} ${rawUrl}: ${describeError(error)}`);
          sendError(res, new FrontError('InternalError', 'We encountered an internal error. Please try again.'), req.method);
        }
      });
  });
  server.requestTimeout = 0; // large uploads may take longer than Node's default of 5 minutes
  server.keepAliveTimeout = 65_000; // longer than SDK agents keep idle sockets, so reused sockets are not cut
  server.headersTimeout = 66_000; // must exceed keepAliveTimeout

  for (const alias of options.hostAliases ?? []) allowedHosts.add(alias.toLowerCase());
  const { port, endpoint } = await listenOnLoopback(server, options.port, host, allowedHosts);
  server.on('error', (error) => log(`server error: ${describeError(error)}`));

  let closing: Promise<void> | undefined;
  return {
    endpoint,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 2000);
        server.close(() => {
          clearTimeout(force);
          s3rver.logger?.close?.();
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------

export type CliOptions = Omit<S3ServerOptions, 'onNotification'>;

function parseRules(json: string): NotificationRule[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(`--rules is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error('--rules must be a JSON array of rules');
  return parsed.map((value: unknown, index) => {
    const rule = value as Partial<Record<keyof NotificationRule, unknown>> | null;
    const isStringOrMissing = (field: unknown): boolean => field === undefined || typeof field === 'string';
    if (
      typeof rule !== 'object' ||
      rule === null ||
      typeof rule.bucket !== 'string' ||
      typeof rule.target !== 'string' ||
      !Array.isArray(rule.events) ||
      rule.events.length === 0 ||
      !rule.events.every((event) => typeof event === 'string') ||
      !isStringOrMissing(rule.prefix) ||
      !isStringOrMissing(rule.suffix) ||
      !isStringOrMissing(rule.id)
    ) {
      throw new Error(`--rules[${index}] must look like {"bucket","events":[...],"target","prefix"?,"suffix"?}`);
    }
    return rule as NotificationRule;
  });
}

export function parseCliArgs(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '4569' },
      host: { type: 'string' },
      dir: { type: 'string', default: '.local-stack/s3' },
      bucket: { type: 'string', multiple: true, default: [] },
      region: { type: 'string' },
      rules: { type: 'string' },
      'host-alias': { type: 'string', multiple: true, default: [] },
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = portOption(values.port);
  return {
    port,
    directory: values.dir,
    buckets: values.bucket,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(values.rules === undefined ? {} : { rules: parseRules(values.rules) }),
    silent: values.silent,
    credentials: credentialsFromEnvironment(),
    hostAliases: values['host-alias'].map((alias) => {
      if (!/^[a-z0-9.-]+:\d{1,5}$|^\[[0-9a-f:]+\]:\d{1,5}$/i.test(alias)) throw new Error(`--host-alias must be host:port, got "${alias}"`);
      return alias;
    }),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 's3',
  usage: "s3-server.ts [--port 4569] [--host 127.0.0.1] [--dir .local-stack/s3] [--bucket name]... [--region us-east-1] [--rules '<json array>'] [--host-alias host:port]... [--silent]  (accepts only requests signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of its environment)",
  parse: parseCliArgs,
  start: async (options) => {
    const server = await startS3Server({ ...options, onNotification: (target, event) => writeLine({ notification: { target, event } }) });
    return {
      ready: { ready: true, endpoint: server.endpoint, port: server.port, region: options.region ?? 'us-east-1', buckets: options.buckets },
      close: () => server.close(),
    };
  },
  what: 'shutting down',
  graceMs: 5000,
});
