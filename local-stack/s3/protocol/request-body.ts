/**
 * Request bodies for the local S3 server: aws-chunked decoding and checksum verification, as a stream s3rver
 * reads in place of the request.
 */
import http from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { loadS3rver } from '../state/s3rver.ts';
import { CHECKSUM_HEADERS, createChecksum, type Checksum } from './checksums.ts';
import { FrontError, incompleteBody, malformedChunk } from './errors.ts';
import { decodedHeaders, headerValue, isAwsChunked } from './headers.ts';

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
export class RequestBody extends Transform {
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
  private readonly source: Readable;

  constructor(
    source: Readable,
    original: http.IncomingMessage,
    headers: http.IncomingHttpHeaders,
    options: BodyOptions,
  ) {
    // Socket reads come in ~64 KiB; Node's default 16 KiB buffers would pause and resume the socket on every one.
    super({ highWaterMark: 1024 * 1024 });
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
    this.source = source;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A body abandoned half-read (its part's upload gone, a failed write) must not leave the rest of the request
    // unread: Node does not discard a body somebody started reading, and the keep-alive connection would hang
    // whichever request the client sends on it next. The rest is read and dropped, as a refused request's is.
    this.source.unpipe(this);
    this.source.resume();
    callback(error);
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
    if (this.failure) {
      callback();
      return;
    }
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
    if (this.failure) {
      callback();
      return;
    }
    const problem = this.finish();
    if (problem) {
      this.fail(problem);
      callback();
      return;
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
      if (destination && typeof destination === 'object')
        destroyChain(destination as NodeJS.WritableStream, undefined, depth + 1);
    }
  }
}

export async function readBody(body: RequestBody, limit: number): Promise<Buffer> {
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

/** The body of `req` (or `source` with `headers` standing in for it), decoded when it is aws-chunked and verified. */
export function bodyOf(req: http.IncomingMessage, source: Readable = req, headers = req.headers): RequestBody {
  return new RequestBody(source, req, headers, { chunked: source === req && isAwsChunked(req.headers), verify: true });
}

/** Reads and verifies a whole body, and returns a stand-in request stream for s3rver that replays it. */
export async function bufferedBody(
  req: http.IncomingMessage,
  limit: number,
): Promise<RequestBody & { content: Buffer }> {
  const content = await readBody(bodyOf(req), limit);
  const headers = isAwsChunked(req.headers) ? decodedHeaders(req.headers) : { ...req.headers };
  headers['content-length'] = String(content.length);
  delete headers['transfer-encoding'];
  return Object.assign(new RequestBody(Readable.from([content]), req, headers, { chunked: false, verify: false }), {
    content,
  });
}
