/**
 * The OP_QUERY/OP_MSG codec: cutting the TCP stream into messages, parsing requests (every length checked
 * against its frame before use) and encoding replies as OP_REPLY or OP_MSG.
 */
import { deserialize, serialize, type Document } from 'bson';
import { checkBsonLayout } from './bson-check.ts';
import {
  MAX_MESSAGE_SIZE_BYTES,
  MAX_REPLY_BSON_SIZE,
  MAX_WRITE_BATCH_SIZE,
  MSG_CHECKSUM_PRESENT,
  MSG_MORE_TO_COME,
  OP_MSG,
  OP_QUERY,
  OP_REPLY,
} from './constants.ts';
import { CommandError, invalidBson, protocolError } from './errors.ts';
import { isPlainObject } from './fields.ts';

/** Cuts a TCP byte stream into whole messages by the int32 length at the start of each. */
export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: Buffer[] = [];
    while (this.buffered >= 4) {
      if ((this.chunks[0] as Buffer).length < 4) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
      const length = (this.chunks[0] as Buffer).readInt32LE(0);
      if (length < 16 || length > MAX_MESSAGE_SIZE_BYTES) throw new Error(`invalid message length ${length}`);
      if (this.buffered < length) break;
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
      messages.push(all.subarray(0, length));
      const rest = all.subarray(length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return messages;
  }
}

/** Where a reply goes: the request it answers, in that request's format (OP_REPLY for OP_QUERY, else OP_MSG). */
export interface ReplyTarget {
  requestId: number;
  opCode: number;
}

export interface ParsedRequest extends ReplyTarget {
  db: string;
  body: Document;
  /** The client wants no reply (OP_MSG moreToCome). */
  noReply: boolean;
}

/**
 * A message whose frame was whole (so the stream stays in step) but whose content is not a valid request: it is
 * answered with `reason` as an error reply, unless the client asked for none.
 */
export class MalformedRequest extends Error {
  constructor(
    readonly target: ReplyTarget,
    readonly noReply: boolean,
    readonly reason: CommandError,
  ) {
    super(reason.message);
  }
}

/** A cstring starting at `offset` that must end before `limit`. */
function readCString(buffer: Buffer, offset: number, limit: number, what: string): { value: string; next: number } {
  const end = offset < limit ? buffer.indexOf(0, offset) : -1;
  if (end < 0 || end >= limit) throw protocolError(`${what} is not a terminated string within its section`);
  return { value: buffer.toString('utf8', offset, end), next: end + 1 };
}

/** The BSON document at `offset`, which must end by `limit`, and where the next thing starts. */
function readDocument(
  buffer: Buffer,
  offset: number,
  limit: number,
  what: string,
): { document: Document; next: number } {
  if (limit - offset < 5) throw protocolError(`${what}: ${limit - offset} bytes left, too few for a document`);
  const size = buffer.readInt32LE(offset);
  if (size < 5 || size > limit - offset)
    throw invalidBson(`${what}: document size ${size} does not fit the ${limit - offset} bytes left`);
  checkBsonLayout(buffer, offset, offset + size);
  try {
    return { document: deserialize(buffer.subarray(offset, offset + size)), next: offset + size };
  } catch (error) {
    throw invalidBson(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Every length is checked against the message (and each document against its section) before it is used. */
export function parseRequest(message: Buffer): ParsedRequest {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  const target = { requestId, opCode };
  if (opCode !== OP_QUERY && opCode !== OP_MSG) throw new Error(`unsupported opcode ${opCode}`);
  // Flags are the first field of both; a message too short to have them cannot say it wants no reply.
  const noReply = opCode === OP_MSG && message.length >= 20 && (message.readUInt32LE(16) & MSG_MORE_TO_COME) !== 0;
  try {
    return opCode === OP_QUERY ? parseOpQuery(message, target) : parseOpMsg(message, target, noReply);
  } catch (error) {
    if (error instanceof CommandError) throw new MalformedRequest(target, noReply, error);
    throw error;
  }
}

function parseOpQuery(message: Buffer, target: ReplyTarget): ParsedRequest {
  // flags(int32) fullCollectionName(cstring) numberToSkip(int32) numberToReturn(int32) query(document)
  const { value: namespace, next } = readCString(message, 20, message.length, 'OP_QUERY collection name');
  const { document: body } = readDocument(message, next + 8, message.length, 'OP_QUERY query');
  // Legacy clients may wrap the command as {$query: {...}, $readPreference: ...}.
  const command = isPlainObject(body.$query) ? body.$query : body;
  return { ...target, db: namespace.split('.')[0] ?? 'admin', body: command, noReply: false };
}

function parseOpMsg(message: Buffer, target: ReplyTarget, noReply: boolean): ParsedRequest {
  if (message.length < 21) throw protocolError(`OP_MSG of ${message.length} bytes has no room for a section`);
  const flags = message.readUInt32LE(16);
  const end = flags & MSG_CHECKSUM_PRESENT ? message.length - 4 : message.length;
  let body: Document | undefined;
  const sequences: [string, Document[]][] = [];
  let sequenced = 0;
  // Every pass moves `offset` forward by at least 6 bytes (kind + a section of 5 or more), or throws.
  for (let offset = 20; offset < end; ) {
    const kind = message[offset] as number;
    offset += 1;
    if (kind === 0) {
      if (body) throw protocolError('Multiple body sections in message');
      const read = readDocument(message, offset, end, 'OP_MSG body section');
      body = read.document;
      offset = read.next;
    } else if (kind === 1) {
      // size(int32, counts itself) identifier(cstring) documents…
      if (end - offset < 5)
        throw protocolError(`OP_MSG document sequence at byte ${offset}: too few bytes left for one`);
      const size = message.readInt32LE(offset);
      if (size < 5 || size > end - offset) {
        throw protocolError(
          `OP_MSG document sequence size ${size} is not between 5 and the ${end - offset} bytes left in the message`,
        );
      }
      const sectionEnd = offset + size;
      const { value: identifier, next: firstDocument } = readCString(
        message,
        offset + 4,
        sectionEnd,
        'OP_MSG document sequence identifier',
      );
      const documents: Document[] = [];
      for (let next = firstDocument; next < sectionEnd; ) {
        if (++sequenced > MAX_WRITE_BATCH_SIZE) {
          throw new CommandError(
            16,
            'InvalidLength',
            `Write batch sizes must be between 1 and ${MAX_WRITE_BATCH_SIZE}: the document sequences hold more.`,
          );
        }
        const read = readDocument(message, next, sectionEnd, `OP_MSG document sequence '${identifier}'`);
        documents.push(read.document);
        next = read.next;
      }
      sequences.push([identifier, documents]);
      offset = sectionEnd;
    } else {
      throw protocolError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw protocolError('OP_MSG without a body section');
  for (const [identifier, documents] of sequences) {
    const existing = Object.hasOwn(body, identifier) ? body[identifier] : undefined;
    // defineProperty: an identifier such as "__proto__" becomes a field like any other, not the body's prototype.
    Object.defineProperty(body, identifier, {
      value: Array.isArray(existing) ? [...existing, ...documents] : documents,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { ...target, db: typeof body.$db === 'string' ? body.$db : 'admin', body, noReply };
}

export function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const buffer = Buffer.alloc(16);
  buffer.writeInt32LE(length, 0);
  buffer.writeInt32LE(requestId, 4);
  buffer.writeInt32LE(responseTo, 8);
  buffer.writeInt32LE(opCode, 12);
  return buffer;
}

/**
 * Throws when `document` cannot be sent as one reply: BSONObjectTooLarge past mongod's reply size, or whatever the
 * serializer meets (it also stops, with a RangeError, once its 17 MiB buffer is full, so no reply costs more).
 */
export function encodeReply(request: ReplyTarget, replyId: number, document: Document): Buffer {
  const bson = serialize(document);
  if (bson.length > MAX_REPLY_BSON_SIZE) {
    throw new CommandError(
      10334,
      'BSONObjectTooLarge',
      `BSONObj size: ${bson.length} is invalid. Size must be between 0 and ${MAX_REPLY_BSON_SIZE}(16MB)`,
    );
  }
  if (request.opCode === OP_QUERY) {
    // responseFlags(int32) cursorID(int64) startingFrom(int32) numberReturned(int32) documents
    const fixed = Buffer.alloc(20);
    fixed.writeInt32LE(1, 16);
    return Buffer.concat([header(16 + 20 + bson.length, replyId, request.requestId, OP_REPLY), fixed, bson]);
  }
  // flagBits(uint32) then one kind-0 section
  const fixed = Buffer.alloc(5);
  return Buffer.concat([header(16 + 5 + bson.length, replyId, request.requestId, OP_MSG), fixed, bson]);
}

/** The error reply of a command that failed as a whole. */
export function errorReply(error: CommandError): Document {
  return { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName, ...error.details };
}
