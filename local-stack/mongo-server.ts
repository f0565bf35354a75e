/**
 * The MongoDB-compatible server of the local stack: a small TCP server speaking the MongoDB wire protocol
 * for the commands the project (and the driver's helpers) use, so the real `mongodb` Node driver connects
 * to it with a plain `mongodb://127.0.0.1:PORT/db` URI. No MongoDB binary can be installed here; production
 * code only ever sees the real driver, and a real server can replace this one by changing the URI.
 *
 * Wire protocol: the driver's first handshake is a legacy OP_QUERY (2004) `hello`/`isMaster` on
 * `admin.$cmd`, answered with OP_REPLY (1); everything after is OP_MSG (2013) with a kind-0 body section and
 * kind-1 document sequences (`documents`, `updates`, `deletes`), which are merged into the body. Requests
 * with the `moreToCome` flag (endSessions, w:0 writes) get no reply. Messages are framed by the int32 length
 * in their header, so they may arrive split across TCP chunks or several in one chunk.
 *
 * Semantics: documents are `bson` values kept in memory; query matching, update operators (including
 * arrayFilters, positional `$` and pipeline updates), sort, projection and aggregation are mingo's. This
 * server adds what mingo does not know: collections and databases, `_id` and unique indexes (enforced on
 * insert, update and upsert), the upsert document, cursors, and write results (`nModified` counts only
 * documents whose BSON changed). It presents itself as a standalone mongod 7.0 (wire version 21): no
 * replica set, hence no transactions and no retryable writes — commands carrying `txnNumber` are refused
 * exactly as a real standalone refuses them; commitTransaction/abortTransaction just answer ok. No auth,
 * no TLS, no compression; non-unique, text, geo and TTL indexes are listed but not used or enforced.
 *
 * Inspection, for mongosh's helpers (db.stats(), db.coll.stats(), .explain(), renameCollection, serverStatus):
 * dbStats, $collStats/collStats report sizes as BSON sizes — a collection's `size` (and `storageSize`: nothing is
 * compressed) is the sum of its documents' BSON sizes, an index's size the sum of the BSON sizes of its keys
 * (`{field: value}` per key). explain runs the query (never the write) and reports the plan it really followed:
 * IDHACK for a bare `_id` equality, FETCH over IXSCAN for an equality on a unique index, otherwise COLLSCAN, then
 * SORT/SKIP/LIMIT/PROJECTION_DEFAULT as applied; rejectedPlans is always empty. serverStatus counts opcounters as
 * mongod does. Other mongod commands (validate, hostInfo, currentOp, users and roles, …) fail with code 59 and a
 * message saying this server does not implement them; replica-set commands fail as on a standalone (code 76).
 *
 * Malformed input is answered, never fatal: every length in a frame is checked against the frame before it is used
 * (section sizes at least 5 and inside the message, documents inside their section, BSON values inside their
 * document); a message that is whole but malformed gets an error reply (ProtocolError 17, InvalidBSON 22), and only
 * a frame that cannot be cut (length below 16 or above maxMessageSizeBytes) or an opcode this server does not speak
 * closes the connection. Nesting past mongod's maxBSONDepth (200) is refused on the wire, past MongoDB's documented
 * 100 levels when stored (Overflow 15, as mongod words it); writeErrors are bounded, and a reply that cannot be
 * encoded becomes an error reply. Names and fields the data file could not load back (a null byte, an Extended
 * JSON type key such as `$oid`) are refused, so the file always reloads. test/local-mongo-fuzz.test.ts fuzzes it.
 *
 * With `dataFile`, all databases are saved as canonical EJSON (types such as ObjectId, Date, Long survive)
 * shortly after each write (temp file, fsync, rename: a crash never leaves half a file) and on close.
 *
 * Durability, as mongod's write concerns define it: a write whose write concern asks for the journal —
 * `j: true`, or `w: "majority"` (which implies it, as on a replica set with writeConcernMajorityJournalDefault,
 * Atlas's setting) — is answered only once the data file holding it is saved, so once acknowledged it survives
 * the process being killed (SIGKILL, OOM, a crash). Any other acknowledged write (the default `w: 1`) is saved
 * `flushDelayMs` (default 50 ms) later: killing the process in that window loses it, like a mongod crash before
 * its journal commit. SIGTERM/SIGINT save everything before exiting. Saves are shared: writes that wait for the
 * journal at the same time wait for one save of the file. Without `dataFile` nothing is durable, and journaled
 * writes are answered at once.
 *
 * Run directly, it is a CLI (see `main` at the bottom) that prints one JSON line when ready on stdout;
 * logs go to stderr. SIGTERM/SIGINT flush the data file and exit.
 */
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EJSON, Long, ObjectId, calculateObjectSize, deserialize, serialize, type Document } from 'bson';
import { Query, aggregate, find, update as applyUpdateOperators, updateOne as applyToFirst, ProcessingMode } from 'mingo';
import type { Modifier, PipelineStage } from 'mingo/updater';
import { MingoError, resolve as resolvePath } from 'mingo/util';
import { integerOption, portOption, runServerMain } from './shared/server-process.ts';

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

export interface MongoServerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Persist all databases as canonical EJSON in this file: loaded at start, saved after writes and on close. */
  dataFile?: string;
  /**
   * How long after a write that did not ask for the journal the data file is saved (writes within it share one
   * save). Default 50 ms. Journaled writes (`j: true`, `w: "majority"`) are saved before they are answered.
   */
  flushDelayMs?: number;
  /** No log on stderr (errors are still logged). */
  silent?: boolean;
}

export interface RunningMongoServer {
  /** `mongodb://host:port`, ready for `new MongoClient(uri)`. */
  uri: string;
  port: number;
  /** Stops listening, closes every client connection and saves the data file. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Protocol constants
// ---------------------------------------------------------------------------------------------------------

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MSG_CHECKSUM_PRESENT = 1 << 0;
const MSG_MORE_TO_COME = 1 << 1;

/** MongoDB 7.0; the driver 7.x needs 8 or more. */
const MAX_WIRE_VERSION = 21;
const VERSION = '7.0.0';
const GIT_VERSION = 'local-stack';
/** mongod's default net.maxIncomingConnections; serverStatus.connections.available counts down from it. */
const MAX_INCOMING_CONNECTIONS = 1_000_000;
const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
const MAX_WRITE_BATCH_SIZE = 100_000;
/**
 * mongod's maxBSONDepth (default 200): a message holding a document nested deeper is refused as a whole, before
 * anything in it runs ("BSONObj exceeds maximum nested object depth", code 15 Overflow).
 */
const MAX_WIRE_DEPTH = 200;
/**
 * The deepest document this server stores: MongoDB's documented limit ("no more than 100 levels of nesting").
 * mongod itself enforces maxBSONDepth − 20 = 180 on writes, with code 15 Overflow; refusing at 100 keeps anything
 * that works here within what the documentation promises, and keeps the data file (EJSON, written by a recursive
 * serializer) far from the stack depth that makes saving fail.
 */
const MAX_STORED_DEPTH = 100;
/** mongod's BSONObjMaxInternalSize: no reply document is larger (16 MiB + 16 KiB of envelope). */
const MAX_REPLY_BSON_SIZE = MAX_BSON_OBJECT_SIZE + 16 * 1024;
/**
 * As mongod's write path does (write_ops_exec generateError, kMaxErrorSizeToReportAfterMaxReasonsReached): after
 * the first write error, an error message longer than this is reported empty.
 */
const MAX_ERRMSG_AFTER_FIRST_ERROR = 1024 * 1024;
/**
 * This server's bound on the writeErrors of one reply (mongod has none beyond the rule above and fails a reply
 * past 16 MiB): once the entries reach this many BSON bytes, the rest carry only index, code and an empty errmsg,
 * so a batch of up to maxWriteBatchSize failures (≤ ~5 MB of such entries) always fits in one reply.
 */
const MAX_WRITE_ERRORS_BYTES = 8 * 1024 * 1024;
/** What mongod puts in a first batch when the client names no batchSize. */
const DEFAULT_FIRST_BATCH = 101;
/** Batches stop growing past this many bytes, leaving room for the reply envelope under 16 MiB. */
const MAX_BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 64 * 1024;
/** Like mongod's cursorTimeoutMillis: cursors nobody reads for this long are dropped. */
const CURSOR_IDLE_MS = 10 * 60 * 1000;
const DEFAULT_FLUSH_DELAY_MS = 50;

// ---------------------------------------------------------------------------------------------------------
// Errors: a command either fails as a whole ({ok: 0, ...}) or per statement (writeErrors entries)
// ---------------------------------------------------------------------------------------------------------

class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
    /** Extra reply fields, e.g. keyPattern/keyValue of a duplicate key. */
    readonly details: Document = {},
  ) {
    super(message);
  }
}

const badValue = (message: string): CommandError => new CommandError(2, 'BadValue', message);
const typeMismatch = (message: string): CommandError => new CommandError(14, 'TypeMismatch', message);
/** A message whose frame is whole but whose layout is not a valid OP_MSG/OP_QUERY (mongod's ProtocolError). */
const protocolError = (message: string): CommandError => new CommandError(17, 'ProtocolError', message);
const invalidBson = (message: string): CommandError => new CommandError(22, 'InvalidBSON', message);
const overflow = (message: string): CommandError => new CommandError(15, 'Overflow', message);
const immutableId = (): CommandError =>
  new CommandError(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");

/** Mingo reports bad operators and paths as MingoError: the client's mistakes. Anything else is a bug here. */
function asCommandError(error: unknown): CommandError {
  if (error instanceof CommandError) return error;
  if (error instanceof MingoError) return /immutable field/.test(error.message) ? immutableId() : badValue(error.message);
  process.stderr.write(`[mongo] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
  return new CommandError(1, 'InternalError', error instanceof Error ? error.message : String(error));
}

// ---------------------------------------------------------------------------------------------------------
// Documents and values
// ---------------------------------------------------------------------------------------------------------

const isPlainObject = (value: unknown): value is Document =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;

/**
 * Field names that Extended JSON, the data file's format, reads back as a BSON type rather than a field
 * (`{$oid: …}` → ObjectId, `{$undefined: true}` → null, …): a document holding one would not load as it was saved.
 */
const EJSON_TYPE_KEYS = new Set([
  '$oid', '$binary', '$uuid', '$symbol', '$numberInt', '$numberDecimal', '$numberDouble', '$numberLong', '$minKey', '$maxKey',
  '$regex', '$regularExpression', '$timestamp', '$date', '$code', '$dbPointer', '$undefined',
]);

/**
 * Why `document` cannot be stored, or undefined: nested more than MAX_STORED_DEPTH levels (counting the document
 * as level 1, as mongod counts), a field name the data file could not hold (a null byte — an update can make
 * one from a string value — or an Extended JSON type key), or a date JavaScript cannot hold (a BSON date past
 * ±8.64e15 ms arrives as an invalid Date, which the file would record as "NaN"). Iterative, so a value of any
 * depth (an update can build one from a long dotted path) is measured without exhausting the stack.
 */
function unstorable(document: Document, tooDeep: () => CommandError): CommandError | undefined {
  const pending: [unknown, number, string][] = [[document, 1, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth, where] = next;
    if (depth > MAX_STORED_DEPTH) return tooDeep();
    const entries: [string, unknown][] = Array.isArray(value) ? value.map((child, i) => [String(i), child]) : Object.entries(value as Document);
    for (const [field, child] of entries) {
      const path = where === '' ? field : `${where}.${field}`;
      if (field.includes('\0')) return badValue(`field names cannot contain null bytes: '${path.replaceAll('\0', '\\0')}'`);
      if (!Array.isArray(value) && EJSON_TYPE_KEYS.has(field) && child !== null && child !== undefined) {
        return new CommandError(
          52,
          'DollarPrefixedFieldName',
          `The dollar ($) prefixed field '${field}' in '${path}' is not valid for storage: the cloud-parallel local MongoDB server saves its data as Extended JSON, which would read it back as a BSON type`,
        );
      }
      if (child instanceof Date && Number.isNaN(child.getTime())) {
        return badValue(`the date in '${path}' is outside the range JavaScript dates hold (±8.64e15 ms from 1970), which this server cannot store`);
      }
      if (Array.isArray(child) || isPlainObject(child)) pending.push([child, depth + 1, path]);
    }
  }
  return undefined;
}

/** A deep copy through BSON: keeps ObjectId, Date, Long… and normalizes exactly like documents off the wire. */
const cloneDocument = (document: Document): Document => deserialize(serialize(document));

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
const sameBson = (a: unknown, b: unknown): boolean => sameBytes(serialize({ v: a }), serialize({ v: b }));

/** A string that is equal for equal BSON values: the key of unique-index entries. */
const keyString = (values: unknown[]): string => EJSON.stringify(values, { relaxed: false });

/** A value the way mongod prints it in messages and index bounds: `"a@x"`, `42`, `ObjectId('…')`. */
const showValue = (value: unknown): string =>
  value instanceof ObjectId ? `ObjectId('${value.toHexString()}')` : EJSON.stringify(value, { relaxed: true });

/** `{ email: "a@x" }`, the way mongod shows key values in E11000 messages. */
function formatKeyValue(keyValue: Document): string {
  return `{ ${Object.entries(keyValue).map(([field, value]) => `${field}: ${showValue(value)}`).join(', ')} }`;
}

/** Mingo rejects `$comment`, which MongoDB allows at the top of any filter and ignores for matching. */
function criteriaOf(filter: unknown): Document {
  if (filter === undefined || filter === null) return {};
  if (!isPlainObject(filter)) throw typeMismatch('filter must be an object');
  const { $comment: _ignored, ...criteria } = filter;
  return criteria;
}

const isOperatorUpdate = (update: Document): boolean => Object.keys(update)[0]?.startsWith('$') ?? false;

function optionalDocument(body: Document, field: string): Document | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw typeMismatch(`'${field}' must be an object`);
  return value;
}

function requireString(body: Document, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw typeMismatch(`'${field}' must be a non-empty string`);
  return value;
}

function documentArray(body: Document, field: string): Document[] {
  const value = body[field] ?? [];
  if (!Array.isArray(value) || !value.every(isPlainObject)) throw typeMismatch(`'${field}' must be an array of objects`);
  return value;
}

/** Counts arrive as int32, double or (rarely) Long. */
function optionalCount(body: Document, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  const count = Long.isLong(value) ? value.toNumber() : value;
  if (typeof count !== 'number' || !Number.isFinite(count)) throw typeMismatch(`'${field}' must be a number`);
  return Math.trunc(count);
}

// ---------------------------------------------------------------------------------------------------------
// Storage: databases → collections → documents (insertion order) + indexes
// ---------------------------------------------------------------------------------------------------------

interface Index {
  /** As listIndexes shows it: {v, key, name, unique?, …options the client gave}. */
  spec: Document;
  name: string;
  fields: string[];
  unique: boolean;
  sparse: boolean;
  /** Unique indexes only: key string → the document holding that key. */
  entries: Map<string, Document>;
}

interface Collection {
  documents: Document[];
  /** indexes[0] is always `_id_`. */
  indexes: Index[];
}

type Database = Map<string, Collection>;

function makeIndex(spec: Document): Index {
  const key = spec.key;
  if (!isPlainObject(key) || Object.keys(key).length === 0) throw new CommandError(67, 'CannotCreateIndex', "index 'key' must be a non-empty object");
  const name = typeof spec.name === 'string' ? spec.name : Object.entries(key).map(([field, order]) => `${field}_${String(order)}`).join('_');
  const unique = name === '_id_' || spec.unique === true;
  return { spec: { v: 2, ...spec, key, name }, name, fields: Object.keys(key), unique, sparse: spec.sparse === true, entries: new Map() };
}

const newCollection = (): Collection => ({ documents: [], indexes: [makeIndex({ key: { _id: 1 }, name: '_id_' })] });

/**
 * The keys `document` has in `index` (missing fields count as null, as in mongod), or none for a sparse index
 * the document has none of the fields of. A single-field index on an array field has one key per element.
 */
function indexKeys(index: Index, document: Document): { key: string; keyValue: Document }[] {
  const values = index.fields.map((field) => resolvePath(document, field));
  if (index.sparse && values.every((value) => value === undefined)) return [];
  const normalized = values.map((value) => value ?? null);
  const [only] = normalized;
  if (normalized.length === 1 && Array.isArray(only) && only.length > 0) {
    return [...new Map(only.map((element) => [keyString([element]), element])).entries()].map(([key, element]) => ({
      key,
      keyValue: { [index.fields[0] as string]: element },
    }));
  }
  return [{ key: keyString(normalized), keyValue: Object.fromEntries(index.fields.map((field, i) => [field, normalized[i]])) }];
}

function duplicateKeyError(namespace: string, index: Index, keyValue: Document): CommandError {
  return new CommandError(
    11000,
    'DuplicateKey',
    `E11000 duplicate key error collection: ${namespace} index: ${index.name} dup key: ${formatKeyValue(keyValue)}`,
    { keyPattern: index.spec.key, keyValue },
  );
}

/** Throws E11000 if `document` would collide in a unique index with a stored document other than `self`. */
function assertUniqueKeys(collection: Collection, namespace: string, document: Document, self?: Document): void {
  for (const index of collection.indexes) {
    if (!index.unique) continue;
    for (const { key, keyValue } of indexKeys(index, document)) {
      const holder = index.entries.get(key);
      if (holder !== undefined && holder !== self) throw duplicateKeyError(namespace, index, keyValue);
    }
  }
}

function addToIndexes(collection: Collection, document: Document): void {
  for (const index of collection.indexes) {
    if (index.unique) for (const { key } of indexKeys(index, document)) index.entries.set(key, document);
  }
}

function removeFromIndexes(collection: Collection, document: Document): void {
  for (const index of collection.indexes) {
    if (!index.unique) continue;
    for (const { key } of indexKeys(index, document)) if (index.entries.get(key) === document) index.entries.delete(key);
  }
}

/** Adds `document` (with `_id` first, generated if missing); E11000 leaves the collection unchanged. */
function insertDocument(collection: Collection, namespace: string, document: Document): Document {
  const refused = unstorable(document, () => overflow(`cannot insert document because it exceeds ${MAX_STORED_DEPTH} levels of nesting`));
  if (refused) throw refused;
  const { _id: id, ...rest } = document;
  const stored: Document = { _id: id === undefined ? new ObjectId() : id, ...rest };
  assertUniqueKeys(collection, namespace, stored);
  collection.documents.push(stored);
  addToIndexes(collection, stored);
  return stored;
}

/**
 * Gives the stored `target` the content of `next`, keeping its identity (cursors and index entries refer to
 * it). Returns false, touching nothing, when the BSON is identical — that is what nModified counts.
 */
function replaceDocument(collection: Collection, namespace: string, target: Document, next: Document): boolean {
  if (!sameBson(target._id, next._id)) throw immutableId();
  const refused = unstorable(next, () => overflow(`Document exceeds maximum nesting depth of ${MAX_STORED_DEPTH}`));
  if (refused) throw refused;
  if (sameBytes(serialize(target), serialize(next))) return false;
  assertUniqueKeys(collection, namespace, next, target);
  removeFromIndexes(collection, target);
  for (const field of Object.keys(target)) delete target[field];
  Object.assign(target, next);
  addToIndexes(collection, target);
  return true;
}

function deleteDocuments(collection: Collection, doomed: Document[]): number {
  if (doomed.length === 0) return 0;
  const doomedSet = new Set(doomed);
  for (const document of doomed) removeFromIndexes(collection, document);
  collection.documents = collection.documents.filter((document) => !doomedSet.has(document));
  return doomed.length;
}

/**
 * The value an equality lookup in an index can answer for a filter condition, or undefined. Null (which also
 * matches missing fields), regexes and arrays (which match element-wise) and other operators need a scan.
 */
function exactValue(condition: unknown): unknown {
  let value = condition;
  if (isPlainObject(value) && Object.keys(value).some((key) => key.startsWith('$'))) {
    if (Object.keys(value).length !== 1 || !('$eq' in value)) return undefined;
    value = value.$eq;
  }
  return value === null || value instanceof RegExp || Array.isArray(value) ? undefined : value;
}

/**
 * One step of how the server answered a query, as explain shows it: `spec` is the stage in mongod's terms
 * (queryPlanner output), the counts are what running it produced (executionStats output).
 */
interface PlanStage {
  /** A function where working the stage out costs something: only explain calls it. */
  spec: Document | (() => Document);
  input?: PlanStage;
  nReturned: number;
  keysExamined?: number;
  docsExamined?: number;
  /** Counts only executionStats shows, e.g. nWouldModify of an UPDATE. */
  stats?: Document;
}

/** `{a: 1, b: {$gt: 2}}` → `{$and: [{a: {$eq: 1}}, {b: {$gt: 2}}]}`: the filter as mongod's parsedQuery shows it. */
function parsedQuery(criteria: Document): Document {
  const predicates: Document[] = [];
  for (const [field, condition] of Object.entries(criteria)) {
    if (field.startsWith('$')) predicates.push({ [field]: condition });
    else if (isPlainObject(condition) && Object.keys(condition).some((key) => key.startsWith('$'))) {
      for (const [operator, operand] of Object.entries(condition)) predicates.push({ [field]: { [operator]: operand } });
    } else if (condition instanceof RegExp) {
      predicates.push({ [field]: { $regex: condition.source, ...(condition.flags ? { $options: condition.flags } : {}) } });
    } else predicates.push({ [field]: { $eq: condition } });
  }
  return predicates.length === 1 ? (predicates[0] as Document) : predicates.length === 0 ? {} : { $and: predicates };
}

/**
 * The stored documents matching `filter` (natural order, or by `sort`) and the plan that found them. An equality
 * on `_id` or on the field of a single-field unique index (what the driver's updates and upserts usually filter
 * by) narrows the candidates to at most one document from that index instead of scanning them all; mingo still
 * checks the whole filter. Compound and dotted-path indexes are not used: arrays (nested ones for dotted paths)
 * are keyed whole there, while filters match their elements.
 */
function runQuery(collection: Collection | undefined, filter: unknown, sort?: Document): { documents: Document[]; plan: PlanStage } {
  const criteria = criteriaOf(filter);
  if (!collection) return { documents: [], plan: { spec: { stage: 'EOF' }, nReturned: 0 } };
  let candidates = collection.documents;
  let lookup: { index: Index; field: string; value: unknown } | undefined;
  for (const index of collection.indexes) {
    const [field, ...more] = index.fields;
    if (!index.unique || index.sparse || field === undefined || more.length > 0 || field.includes('.')) continue;
    const value = exactValue(criteria[field]);
    if (value === undefined) continue;
    const holder = index.entries.get(keyString([value]));
    candidates = holder ? [holder] : [];
    lookup = { index, field, value };
    break;
  }
  const matched = find(candidates, criteria).all();
  let plan: PlanStage;
  if (!lookup) {
    const filterSpec = (): Document => (Object.keys(criteria).length > 0 ? { filter: parsedQuery(criteria) } : {});
    plan = { spec: () => ({ stage: 'COLLSCAN', ...filterSpec(), direction: 'forward' }), nReturned: matched.length, docsExamined: candidates.length };
  } else if (lookup.index.name === '_id_' && Object.keys(criteria).length === 1) {
    // mongod's fast path for a query that is nothing but an _id equality.
    plan = { spec: { stage: 'IDHACK' }, nReturned: matched.length, keysExamined: candidates.length, docsExamined: candidates.length };
  } else {
    const { index, field, value } = lookup;
    const { [field]: _used, ...rest } = criteria;
    const scan: PlanStage = {
      spec: () => {
        const isMultiKey = collection.documents.some((document) => Array.isArray(resolvePath(document, field)));
        return {
          stage: 'IXSCAN',
          keyPattern: index.spec.key,
          indexName: index.name,
          isMultiKey,
          multiKeyPaths: { [field]: isMultiKey ? [field] : [] },
          isUnique: true,
          isSparse: false,
          isPartial: false,
          indexVersion: 2,
          direction: 'forward',
          indexBounds: { [field]: [`[${showValue(value)}, ${showValue(value)}]`] },
        };
      },
      nReturned: candidates.length,
      keysExamined: candidates.length,
    };
    const filterSpec = (): Document => (Object.keys(rest).length > 0 ? { filter: parsedQuery(rest) } : {});
    plan = { spec: () => ({ stage: 'FETCH', ...filterSpec() }), input: scan, nReturned: matched.length, docsExamined: candidates.length };
  }
  if (!sort || Object.keys(sort).length === 0) return { documents: matched, plan };
  const sorted = find(matched, {}).sort(sort).all();
  const spec = { stage: 'SORT', sortPattern: sort, memLimit: 104_857_600, type: 'simple' };
  return { documents: sorted, plan: { spec, input: plan, nReturned: sorted.length } };
}

const matchingDocuments = (collection: Collection | undefined, filter: unknown, sort?: Document): Document[] =>
  runQuery(collection, filter, sort).documents;

function project(document: Document, projection: Document | undefined): Document {
  if (!projection || Object.keys(projection).length === 0) return document;
  return find([document], {}, projection).all()[0] ?? {};
}

/** The documents a find command returns (filter, sort, skip, limit, projection) and the plan that produced them. */
function runFind(collection: Collection | undefined, body: Document): { documents: Document[]; plan: PlanStage } {
  let { documents, plan } = runQuery(collection, body.filter, optionalDocument(body, 'sort'));
  const skip = optionalCount(body, 'skip') ?? 0;
  const limit = Math.abs(optionalCount(body, 'limit') ?? 0);
  if (skip < 0) throw badValue(`skip value must be non-negative, but received: ${skip}`);
  if (skip > 0) {
    documents = documents.slice(skip);
    plan = { spec: { stage: 'SKIP', skipAmount: skip }, input: plan, nReturned: documents.length };
  }
  if (limit > 0) {
    documents = documents.slice(0, limit);
    plan = { spec: { stage: 'LIMIT', limitAmount: limit }, input: plan, nReturned: documents.length };
  }
  const projection = optionalDocument(body, 'projection');
  if (projection && Object.keys(projection).length > 0) {
    documents = find(documents, {}, projection).all();
    plan = { spec: { stage: 'PROJECTION_DEFAULT', transformBy: projection }, input: plan, nReturned: documents.length };
  }
  return { documents, plan };
}

// ---------------------------------------------------------------------------------------------------------
// Statistics (dbStats, $collStats): sizes are BSON sizes, as the documents are kept — uncompressed
// ---------------------------------------------------------------------------------------------------------

interface CollectionSizes {
  count: number;
  /** Total BSON size of the documents. */
  size: number;
  /** Per index: the BSON size of every key it holds (`{field: value}` per key), this server's measure of an index. */
  indexSizes: [string, number][];
  totalIndexSize: number;
}

function collectionSizes(collection: Collection): CollectionSizes {
  const size = collection.documents.reduce((sum, document) => sum + calculateObjectSize(document), 0);
  const indexSizes = collection.indexes.map((index): [string, number] => {
    let bytes = 0;
    for (const document of collection.documents) for (const { keyValue } of indexKeys(index, document)) bytes += calculateObjectSize(keyValue);
    return [index.name, bytes];
  });
  return { count: collection.documents.length, size, indexSizes, totalIndexSize: indexSizes.reduce((sum, [, bytes]) => sum + bytes, 0) };
}

/** The `scale` of dbStats/collStats: sizes are divided by it (whole numbers, as mongod does). */
function scaleOf(body: Document): number {
  const scale = optionalCount(body, 'scale') ?? 1;
  if (scale < 1) throw badValue('scale has to be >= 1');
  return scale;
}

/** A collection's storageStats as mongod 7.0's $collStats and collStats show them (less the WiredTiger details). */
function storageStats(collection: Collection, scale: number): Document {
  const { count, size, indexSizes, totalIndexSize } = collectionSizes(collection);
  const scaled = (bytes: number): number => Math.floor(bytes / scale);
  return {
    size: scaled(size),
    count,
    ...(count > 0 ? { avgObjSize: Math.floor(size / count) } : {}),
    numOrphanDocs: 0,
    // Nothing is compressed or preallocated: the storage a collection takes is its documents' size.
    storageSize: scaled(size),
    freeStorageSize: 0,
    capped: false,
    nindexes: collection.indexes.length,
    indexBuilds: [],
    totalIndexSize: scaled(totalIndexSize),
    totalSize: scaled(size + totalIndexSize),
    indexSizes: Object.fromEntries(indexSizes.map(([name, bytes]) => [name, scaled(bytes)])),
    scaleFactor: scale,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Explain: the plan a command followed here, in mongod's classic-engine terms (explainVersion 1)
// ---------------------------------------------------------------------------------------------------------

type Verbosity = 'queryPlanner' | 'executionStats' | 'allPlansExecution';
const VERBOSITIES: readonly string[] = ['queryPlanner', 'executionStats', 'allPlansExecution'];

function timed<T>(work: () => T): { result: T; millis: number } {
  const started = performance.now();
  const result = work();
  return { result, millis: Math.round(performance.now() - started) };
}

const specOf = (plan: PlanStage): Document => (typeof plan.spec === 'function' ? plan.spec() : plan.spec);

const plannerView = (plan: PlanStage): Document => ({ ...specOf(plan), ...(plan.input ? { inputStage: plannerView(plan.input) } : {}) });

function executionView(plan: PlanStage, millis: number): Document {
  const { stage, ...fields } = specOf(plan);
  return {
    stage,
    ...fields,
    nReturned: plan.nReturned,
    executionTimeMillisEstimate: millis,
    ...(plan.keysExamined === undefined ? {} : { keysExamined: plan.keysExamined }),
    ...(plan.docsExamined === undefined ? {} : { docsExamined: plan.docsExamined }),
    ...plan.stats,
    ...(plan.input ? { inputStage: executionView(plan.input, millis) } : {}),
  };
}

const examined = (plan: PlanStage | undefined, field: 'keysExamined' | 'docsExamined'): number =>
  plan ? (plan[field] ?? 0) + examined(plan.input, field) : 0;

/** queryPlanner, plus executionStats when `verbosity` asks for them: what explain says about one query. */
function explainQuery(namespace: string, filter: unknown, plan: PlanStage, millis: number, verbosity: Verbosity): Document {
  return {
    queryPlanner: {
      namespace,
      indexFilterSet: false,
      parsedQuery: parsedQuery(criteriaOf(filter)),
      maxIndexedOrSolutionsReached: false,
      maxIndexedAndSolutionsReached: false,
      maxScansToExplodeReached: false,
      winningPlan: plannerView(plan),
      rejectedPlans: [],
    },
    ...(verbosity === 'queryPlanner'
      ? {}
      : {
          executionStats: {
            executionSuccess: true,
            nReturned: plan.nReturned,
            executionTimeMillis: millis,
            totalKeysExamined: examined(plan, 'keysExamined'),
            totalDocsExamined: examined(plan, 'docsExamined'),
            executionStages: executionView(plan, millis),
            ...(verbosity === 'allPlansExecution' ? { allPlansExecution: [] } : {}),
          },
        }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Updates and upserts (the operators themselves are mingo's)
// ---------------------------------------------------------------------------------------------------------

interface UpdateSpec {
  update: Document | Document[];
  arrayFilters?: Document[];
}

function updateSpecOf(update: unknown, arrayFilters: unknown): UpdateSpec {
  if (!isPlainObject(update) && !(Array.isArray(update) && update.every(isPlainObject))) {
    throw new CommandError(9, 'FailedToParse', 'the update must be a document or a pipeline (array of stages)');
  }
  if (arrayFilters !== undefined && arrayFilters !== null && !(Array.isArray(arrayFilters) && arrayFilters.every(isPlainObject))) {
    throw typeMismatch("'arrayFilters' must be an array of objects");
  }
  return { update, ...(Array.isArray(arrayFilters) ? { arrayFilters } : {}) };
}

/**
 * `original` after the update, as a new document (the original is not touched). `query` is the statement's
 * filter, which mingo needs for the positional `$` operator; `inserting` applies $setOnInsert (an upsert).
 */
function updatedDocument(original: Document, spec: UpdateSpec, query: Document, inserting: boolean): Document {
  const { update, arrayFilters } = spec;
  let next = cloneDocument(original);
  if (Array.isArray(update)) {
    const holder = [next];
    // mingo's PipelineStage names the stages an update pipeline may use; other stages fail in mingo.
    applyToFirst(holder, {}, update as PipelineStage[]);
    next = holder[0] ?? next;
  } else if (isOperatorUpdate(update)) {
    // mingo has no $setOnInsert: on insert it is a $set, on update it does nothing.
    const { $setOnInsert: setOnInsert, ...operators } = update;
    if (inserting && isPlainObject(setOnInsert)) operators.$set = { ...(isPlainObject(operators.$set) ? operators.$set : {}), ...setOnInsert };
    if (Object.keys(operators).length > 0) {
      applyUpdateOperators(next, operators as Modifier<Document>, arrayFilters, inserting ? undefined : query);
    }
  } else {
    if ('_id' in update && original._id !== undefined && !sameBson(update._id, original._id)) throw immutableId();
    next = original._id === undefined ? cloneDocument(update) : { _id: original._id, ...cloneDocument(update) };
  }
  if (original._id !== undefined && !sameBson(next._id, original._id)) throw immutableId();
  return next;
}

/** The fields an upsert takes from its filter: plain equalities and `$eq`, also inside `$and`. */
function equalityFields(criteria: Document): Document {
  const fields: Document = {};
  for (const [key, value] of Object.entries(criteria)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const clause of value) if (isPlainObject(clause)) Object.assign(fields, equalityFields(clause));
    } else if (key.startsWith('$')) {
      continue;
    } else if (isPlainObject(value) && Object.keys(value).some((operator) => operator.startsWith('$'))) {
      if ('$eq' in value) fields[key] = value.$eq;
    } else {
      fields[key] = value;
    }
  }
  return fields;
}

/** The document an upsert inserts: the filter's equalities plus the update (or just the replacement). */
function upsertDocument(criteria: Document, spec: UpdateSpec): Document {
  const seed: Document = {};
  const { _id: id, ...equalities } = equalityFields(criteria);
  // mingo refuses to $set _id (immutable on updates), but an upsert's new document takes it from the query, as
  // mongod does: assign it directly.
  if (id !== undefined) seed._id = id;
  // $set builds the nested documents of dotted paths ({'a.b': 1} → {a: {b: 1}}), as mongod does.
  if (Object.keys(equalities).length > 0) applyUpdateOperators(seed, { $set: equalities });
  const { update } = spec;
  if (!Array.isArray(update) && !isOperatorUpdate(update)) {
    const replacement = cloneDocument(update);
    return replacement._id === undefined && seed._id !== undefined ? { _id: seed._id, ...replacement } : replacement;
  }
  return updatedDocument(seed, spec, criteria, true);
}

// ---------------------------------------------------------------------------------------------------------
// Cursors
// ---------------------------------------------------------------------------------------------------------

interface Cursor {
  namespace: string;
  documents: Document[];
  offset: number;
  lastUsed: number;
}

function takeBatch(cursor: Cursor, maxCount: number): Document[] {
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

// ---------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------

interface CommandRequest {
  db: string;
  body: Document;
  connectionId: number;
}

type CommandHandler = (request: CommandRequest) => Document;

/** serverStatus.opcounters, counted as mongod counts them. */
interface Opcounters {
  /** Documents inserted (tried), one per document of an insert command. */
  insert: number;
  /** find commands. */
  query: number;
  /** Update statements (tried), one per entry of an update command's `updates`. */
  update: number;
  /** Delete statements (tried), one per entry of a delete command's `deletes`. */
  delete: number;
  /** getMore commands. */
  getmore: number;
  /** Every other command, including the hellos of connection handshakes and serverStatus itself. */
  command: number;
}

interface ServerState {
  databases: Map<string, Database>;
  cursors: Map<string, Cursor>;
  /** Called after every change to the stored data (schedules the data file save). */
  changed(): void;
  opcounters: Opcounters;
  /** What serverStatus and explain tell about the process. */
  process: {
    startedAt: number;
    /** Known once listening. */
    port: number;
    dataFile: string | undefined;
    connections(): { current: number; totalCreated: number };
  };
}

/**
 * Runs the statements of a write command in order. A failing statement becomes a writeErrors entry (the
 * command itself still answers ok: 1, as mongod does) and, when `ordered`, stops the ones after it.
 */
function runStatements(statements: Document[], ordered: boolean, run: (statement: Document, index: number) => void): Document {
  if (statements.length > MAX_WRITE_BATCH_SIZE) {
    throw new CommandError(16, 'InvalidLength', `Write batch sizes must be between 1 and ${MAX_WRITE_BATCH_SIZE}. Got ${statements.length} operations.`);
  }
  const writeErrors: Document[] = [];
  let bytes = 0;
  for (const [index, statement] of statements.entries()) {
    try {
      run(statement, index);
    } catch (error) {
      const { code, message, details } = asCommandError(error);
      const errmsg = writeErrors.length > 0 && message.length > MAX_ERRMSG_AFTER_FIRST_ERROR ? '' : message;
      let entry: Document = { index, code, errmsg, ...details };
      let size = calculateObjectSize(entry);
      if (bytes + size > MAX_WRITE_ERRORS_BYTES) {
        // Past the budget (or for one entry too large on its own), the bare minimum: which statement, and the code.
        entry = { index, code, errmsg: '' };
        size = calculateObjectSize(entry);
      }
      bytes += size;
      writeErrors.push(entry);
      if (ordered) break;
    }
  }
  return writeErrors.length > 0 ? { writeErrors } : {};
}

/**
 * mongod commands this server does not implement: they fail with mongod's code for an unknown command (59) and a
 * message that says why, rather than "no such command", which would suggest a typo.
 */
const NOT_IMPLEMENTED = [
  'validate', 'hostInfo', 'currentOp', 'killOp', 'top', 'lockInfo', 'getLog', 'profile', 'usersInfo', 'rolesInfo',
  'createUser', 'updateUser', 'dropUser', 'dropAllUsersFromDatabase', 'grantRolesToUser', 'revokeRolesFromUser',
  'createRole', 'updateRole', 'dropRole', 'collMod', 'compact', 'convertToCapped', 'cloneCollectionAsCapped', 'reIndex',
  'mapReduce', 'dataSize', 'fsync', 'fsyncUnlock', 'shutdown', 'logRotate', 'setParameter', 'setFeatureCompatibilityVersion',
] as const;

/** Aggregation stages of mongod this server does not have (mingo would only say "unregistered pipeline operator"). */
const STAGES_NOT_IMPLEMENTED = new Set(['$currentOp', '$listLocalSessions', '$listSessions', '$indexStats', '$planCacheStats', '$changeStream']);

const NOT_HERE = 'is not supported by the cloud-parallel local MongoDB server (a test stand-in for mongod)';
const notSupported = (what: string, code = 59, codeName = 'CommandNotFound'): CommandError => new CommandError(code, codeName, `${what} ${NOT_HERE}`);

/** `db.coll` → [db, coll], or InvalidNamespace. */
function splitNamespace(namespace: string, which: string): [string, string] {
  const dot = namespace.indexOf('.');
  const [db, name] = [namespace.slice(0, dot), namespace.slice(dot + 1)];
  if (dot <= 0 || name === '' || /[/\\. "$\0]/.test(db) || /[$\0]/.test(name)) {
    throw new CommandError(73, 'InvalidNamespace', `Invalid ${which} namespace: ${namespace}`);
  }
  return [db, name];
}

function createCommands(state: ServerState): Record<string, CommandHandler> {
  const { databases, cursors } = state;
  /** As mongod reports itself: the host name, and the port unless it is the default. */
  const hostAndPort = (): string => `${os.hostname()}${state.process.port === 27017 ? '' : `:${state.process.port}`}`;

  const collectionOf = (db: string, name: string): Collection | undefined => databases.get(db)?.get(name);
  const ensureCollection = (db: string, name: string): Collection => {
    // Names become keys of the data file and of every later namespace: refuse what mongod refuses.
    if (db === '' || /[/\\. "$\0]/.test(db)) throw new CommandError(73, 'InvalidNamespace', `Invalid database name: '${db.replaceAll('\0', '\\0')}'`);
    if (name === '' || /[$\0]/.test(name)) throw new CommandError(73, 'InvalidNamespace', `Invalid collection name: '${name.replaceAll('\0', '\\0')}'`);
    let database = databases.get(db);
    if (!database) databases.set(db, (database = new Map()));
    let collection = database.get(name);
    if (!collection) {
      database.set(name, (collection = newCollection()));
      state.changed();
    }
    return collection;
  };

  /** A reply with a first batch; the rest stays behind a cursor id for getMore (unless `singleBatch`). */
  const cursorReply = (namespace: string, documents: Document[], batchSize: number | undefined, singleBatch = false): Document => {
    const cursor: Cursor = { namespace, documents, offset: 0, lastUsed: Date.now() };
    const firstBatch = takeBatch(cursor, batchSize ?? DEFAULT_FIRST_BATCH);
    let id = Long.ZERO;
    if (!singleBatch && cursor.offset < documents.length) {
      do id = Long.fromNumber(randomInt(1, 2 ** 47));
      while (cursors.has(id.toString()));
      cursors.set(id.toString(), cursor);
    }
    return { cursor: { firstBatch, id, ns: namespace }, ok: 1 };
  };

  const hello: CommandHandler = ({ body, connectionId }) => ({
    ...(body.helloOk === true ? { helloOk: true } : {}),
    // `ismaster` is the legacy spelling of isWritablePrimary; the driver reads either.
    isWritablePrimary: true,
    ismaster: true,
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ok: 1,
  });

  const updateCommand: CommandHandler = ({ db, body }) => {
    const name = requireString(body, 'update');
    const namespace = `${db}.${name}`;
    let matched = 0;
    let modified = 0;
    const upserted: Document[] = [];
    const errors = runStatements(documentArray(body, 'updates'), body.ordered !== false, (statement, index) => {
      state.opcounters.update += 1;
      const criteria = criteriaOf(statement.q);
      const spec = updateSpecOf(statement.u, statement.arrayFilters);
      const multi = statement.multi === true;
      if (multi && !Array.isArray(spec.update) && !isOperatorUpdate(spec.update)) {
        throw new CommandError(9, 'FailedToParse', 'multi update is not supported for replacement-style update');
      }
      const collection = collectionOf(db, name);
      const found = matchingDocuments(collection, criteria, optionalDocument(statement, 'sort'));
      const targets = multi ? found : found.slice(0, 1);
      if (!collection || targets.length === 0) {
        if (statement.upsert !== true) return;
        const inserted = insertDocument(ensureCollection(db, name), namespace, upsertDocument(criteria, spec));
        upserted.push({ index, _id: inserted._id });
        state.changed();
        return;
      }
      for (const target of targets) {
        matched += 1;
        if (replaceDocument(collection, namespace, target, updatedDocument(target, spec, criteria, false))) {
          modified += 1;
          state.changed();
        }
      }
    });
    return { n: matched + upserted.length, nModified: modified, ...(upserted.length > 0 ? { upserted } : {}), ...errors, ok: 1 };
  };

  const findAndModify: CommandHandler = ({ db, body }) => {
    const name = requireString(body, Object.keys(body)[0] as string);
    const namespace = `${db}.${name}`;
    const criteria = criteriaOf(body.query);
    const fields = optionalDocument(body, 'fields');
    const collection = collectionOf(db, name);
    const [target] = matchingDocuments(collection, criteria, optionalDocument(body, 'sort'));
    if (body.remove === true) {
      if (!target || !collection) return { lastErrorObject: { n: 0 }, value: null, ok: 1 };
      const before = project(cloneDocument(target), fields);
      deleteDocuments(collection, [target]);
      state.changed();
      return { lastErrorObject: { n: 1 }, value: before, ok: 1 };
    }
    const spec = updateSpecOf(body.update, body.arrayFilters);
    const returnNew = body.new === true;
    if (target && collection) {
      const before = cloneDocument(target);
      if (replaceDocument(collection, namespace, target, updatedDocument(target, spec, criteria, false))) state.changed();
      const value = project(returnNew ? cloneDocument(target) : before, fields);
      return { lastErrorObject: { n: 1, updatedExisting: true }, value, ok: 1 };
    }
    if (body.upsert !== true) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
    const inserted = insertDocument(ensureCollection(db, name), namespace, upsertDocument(criteria, spec));
    state.changed();
    return {
      lastErrorObject: { n: 1, updatedExisting: false, upserted: inserted._id },
      value: returnNew ? project(cloneDocument(inserted), fields) : null,
      ok: 1,
    };
  };

  /**
   * Where an aggregation's documents come from, and the stages left to run on them: `$collStats` makes its one
   * document; otherwise a leading `$match` goes through runQuery (uses the _id index, skips cloning what does not
   * match) and `plan` says how.
   */
  const aggregationSource = (db: string, body: Document): { documents: Document[]; stages: Document[]; plan?: PlanStage; filter?: Document } => {
    const target = body.aggregate;
    const pipeline = documentArray(body, 'pipeline');
    for (const [position, stage] of pipeline.entries()) {
      const name = Object.keys(stage)[0] ?? '';
      if (name === '$out' || name === '$merge') throw notSupported(name, 115, 'CommandNotSupported');
      if (STAGES_NOT_IMPLEMENTED.has(name)) throw notSupported(`The ${name} aggregation stage`, 40324, 'Location40324');
      if (name === '$collStats' && position > 0) throw new CommandError(40602, 'Location40602', '$collStats is only valid as the first stage in a pipeline');
    }
    const [first, ...rest] = pipeline;
    if (first && '$collStats' in first) return { documents: collStats(db, target, first.$collStats), stages: rest };
    const leadingMatch = first && Object.keys(first).length === 1 && isPlainObject(first.$match) ? first.$match : undefined;
    const collection = typeof target === 'string' ? collectionOf(db, target) : undefined;
    const { documents, plan } = runQuery(collection, leadingMatch ?? {});
    return { documents, stages: leadingMatch ? rest : pipeline, plan, filter: leadingMatch ?? {} };
  };

  const runStages = (db: string, documents: Document[], stages: Document[]): Document[] =>
    stages.length === 0
      ? documents
      : aggregate(documents, stages, {
          // Stages like $addFields would otherwise modify the stored documents.
          processingMode: ProcessingMode.CLONE_INPUT,
          collectionResolver: (name: string) => collectionOf(db, name)?.documents ?? [],
        });

  /** The document of `$collStats` (storageStats and count; latencyStats and queryExecStats are not kept here). */
  const collStats = (db: string, target: unknown, spec: unknown): Document[] => {
    if (!isPlainObject(spec)) throw typeMismatch('$collStats must take a nested object');
    if (typeof target !== 'string') throw new CommandError(73, 'InvalidNamespace', '$collStats must be run against a collection namespace');
    for (const option of Object.keys(spec)) {
      if (option === 'latencyStats' || option === 'queryExecStats') throw notSupported(`$collStats ${option}`, 115, 'CommandNotSupported');
      if (option !== 'storageStats' && option !== 'count') {
        throw new CommandError(40415, 'Location40415', `BSON field '$collStats.${option}' is an unknown field.`);
      }
    }
    const namespace = `${db}.${target}`;
    const collection = collectionOf(db, target);
    const stats: Document = { ns: namespace, host: hostAndPort(), localTime: new Date() };
    for (const option of ['storageStats', 'count']) {
      if (spec[option] === undefined) continue;
      if (!collection) {
        const message = `Unable to retrieve ${option} in $collStats stage :: caused by :: Collection [${namespace}] not found.`;
        throw new CommandError(26, 'NamespaceNotFound', message);
      }
      const options = isPlainObject(spec[option]) ? (spec[option] as Document) : {};
      stats[option] = option === 'count' ? collection.documents.length : storageStats(collection, scaleOf(options));
    }
    return [stats];
  };

  /** What a count command answers for `matched` documents, after its skip and limit. */
  const countOf = (matched: number, body: Document): { n: number; skipped: number } => {
    const skip = Math.max(0, optionalCount(body, 'skip') ?? 0);
    const limit = Math.abs(optionalCount(body, 'limit') ?? 0);
    const left = Math.max(0, matched - skip);
    return { n: limit === 0 ? left : Math.min(limit, left), skipped: matched - left };
  };

  /**
   * Explains of the commands mongosh and the driver explain. Each runs the query as its command would (so
   * executionStats are real) but changes nothing: writes only count what they would do.
   */
  const explainers: Record<string, (db: string, inner: Document, verbosity: Verbosity) => Document> = {
    find: (db, inner, verbosity) => {
      const name = requireString(inner, 'find');
      const { result, millis } = timed(() => runFind(collectionOf(db, name), inner));
      return explainQuery(`${db}.${name}`, inner.filter, result.plan, millis, verbosity);
    },
    count: (db, inner, verbosity) => {
      const name = requireString(inner, 'count');
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(collectionOf(db, name), inner.query);
        const { n, skipped } = countOf(documents.length, inner);
        return { spec: { stage: 'COUNT' }, input, nReturned: 0, stats: { nCounted: n, nSkipped: skipped } };
      });
      return explainQuery(`${db}.${name}`, inner.query, plan, millis, verbosity);
    },
    distinct: (db, inner, verbosity) => {
      const name = requireString(inner, 'distinct');
      requireString(inner, 'key');
      const { result, millis } = timed(() => runQuery(collectionOf(db, name), inner.query));
      return explainQuery(`${db}.${name}`, inner.query, result.plan, millis, verbosity);
    },
    update: (db, inner, verbosity) => {
      const name = requireString(inner, 'update');
      const statements = documentArray(inner, 'updates');
      if (statements.length !== 1) throw new CommandError(16, 'InvalidLength', 'explained write batches must be of size 1');
      const statement = statements[0] as Document;
      const criteria = criteriaOf(statement.q);
      const spec = updateSpecOf(statement.u, statement.arrayFilters);
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(collectionOf(db, name), criteria, optionalDocument(statement, 'sort'));
        const targets = statement.multi === true ? documents : documents.slice(0, 1);
        const wouldModify = targets.filter((target) => !sameBytes(serialize(target), serialize(updatedDocument(target, spec, criteria, false))));
        const nWouldUpsert = targets.length === 0 && statement.upsert === true ? 1 : 0;
        return { spec: { stage: 'UPDATE' }, input, nReturned: 0, stats: { nMatched: targets.length, nWouldModify: wouldModify.length, nWouldUpsert } };
      });
      return explainQuery(`${db}.${name}`, criteria, plan, millis, verbosity);
    },
    delete: (db, inner, verbosity) => {
      const name = requireString(inner, 'delete');
      const statements = documentArray(inner, 'deletes');
      if (statements.length !== 1) throw new CommandError(16, 'InvalidLength', 'explained write batches must be of size 1');
      const statement = statements[0] as Document;
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(collectionOf(db, name), statement.q);
        const nWouldDelete = optionalCount(statement, 'limit') === 1 ? Math.min(1, documents.length) : documents.length;
        return { spec: { stage: 'DELETE' }, input, nReturned: 0, stats: { nWouldDelete } };
      });
      return explainQuery(`${db}.${name}`, statement.q, plan, millis, verbosity);
    },
    findAndModify: (db, inner, verbosity) => {
      const name = requireString(inner, Object.keys(inner)[0] as string);
      const criteria = criteriaOf(inner.query);
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(collectionOf(db, name), criteria, optionalDocument(inner, 'sort'));
        const [target] = documents;
        if (inner.remove === true) return { spec: { stage: 'DELETE' }, input, nReturned: 0, stats: { nWouldDelete: target ? 1 : 0 } };
        const spec = updateSpecOf(inner.update, inner.arrayFilters);
        const changes = target !== undefined && !sameBytes(serialize(target), serialize(updatedDocument(target, spec, criteria, false)));
        const stats = { nMatched: target ? 1 : 0, nWouldModify: changes ? 1 : 0, nWouldUpsert: !target && inner.upsert === true ? 1 : 0 };
        return { spec: { stage: 'UPDATE' }, input, nReturned: 0, stats };
      });
      return explainQuery(`${db}.${name}`, criteria, plan, millis, verbosity);
    },
    aggregate: (db, inner, verbosity) => {
      const target = inner.aggregate;
      const namespace = typeof target === 'string' ? `${db}.${target}` : `${db}.$cmd.aggregate`;
      const execute = verbosity !== 'queryPlanner';
      const { result: source, millis } = timed(() => aggregationSource(db, inner));
      // Nothing after the query: the whole pipeline was the query, explained as one (as mongod does).
      if (source.plan && source.stages.length === 0 && typeof target === 'string') {
        return explainQuery(namespace, source.filter, source.plan, millis, verbosity);
      }
      const counts = (returned: number, elapsed: number): Document => (execute ? { nReturned: returned, executionTimeMillisEstimate: elapsed } : {});
      const stages: Document[] = [];
      const pipeline = documentArray(inner, 'pipeline');
      if (source.plan && typeof target === 'string') {
        stages.push({ $cursor: explainQuery(namespace, source.filter, source.plan, millis, verbosity), ...counts(source.documents.length, millis) });
      } else if (!source.plan) {
        stages.push({ ...pipeline[0], ...counts(source.documents.length, millis) });
      }
      let documents = source.documents;
      let elapsed = millis;
      for (const stage of source.stages) {
        if (!execute) {
          stages.push(stage);
          continue;
        }
        const step = timed(() => runStages(db, documents, [stage]));
        documents = step.result;
        elapsed += step.millis;
        stages.push({ ...stage, ...counts(documents.length, elapsed) });
      }
      return { stages };
    },
  };
  explainers.findandmodify = explainers.findAndModify as (typeof explainers)[string];

  const explainCommand: CommandHandler = ({ db, body }) => {
    const inner = optionalDocument(body, 'explain');
    if (!inner) throw typeMismatch("'explain' must be a command document");
    const verbosity = body.verbosity ?? 'allPlansExecution';
    if (typeof verbosity !== 'string' || !VERBOSITIES.includes(verbosity)) {
      throw new CommandError(9, 'FailedToParse', "verbosity string must be one of {'queryPlanner', 'executionStats', 'allPlansExecution'}");
    }
    const name = Object.keys(inner)[0] ?? '';
    const explainer = Object.hasOwn(explainers, name) ? explainers[name] : undefined;
    if (!explainer) throw badValue(`Cannot explain cmd: ${name}`);
    return {
      explainVersion: '1',
      ...explainer(db, inner, verbosity as Verbosity),
      command: { ...inner, $db: db },
      serverInfo: { host: os.hostname(), port: state.process.port, version: VERSION, gitVersion: GIT_VERSION },
      ok: 1,
    };
  };

  const commands: Record<string, CommandHandler> = {
    hello,
    isMaster: hello,
    ismaster: hello,
    ping: () => ({ ok: 1 }),
    buildInfo: () => ({ version: VERSION, versionArray: [7, 0, 0, 0], gitVersion: GIT_VERSION, bits: 64, maxBsonObjectSize: MAX_BSON_OBJECT_SIZE, ok: 1 }),
    getParameter: ({ body }) => ({
      ...(body.featureCompatibilityVersion !== undefined || body.getParameter === '*' ? { featureCompatibilityVersion: { version: '7.0' } } : {}),
      ok: 1,
    }),
    getCmdLineOpts: () => ({ argv: ['mongod'], parsed: {}, ok: 1 }),
    connectionStatus: () => ({ authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] }, ok: 1 }),
    // Sessions are accepted (the driver sends lsid with everything) but hold no state here.
    endSessions: () => ({ ok: 1 }),
    // No transactions: a standalone mongod has none; commands inside one are refused (see dispatch).
    commitTransaction: () => ({ ok: 1 }),
    abortTransaction: () => ({ ok: 1 }),

    listDatabases: ({ body }) => {
      const filter = new Query(criteriaOf(body.filter));
      const all = [...databases.entries()]
        .filter(([, database]) => database.size > 0)
        .map(([name, database]) => ({
          name,
          sizeOnDisk: [...database.values()].reduce((bytes, c) => bytes + c.documents.reduce((sum, d) => sum + calculateObjectSize(d), 0), 0),
          empty: [...database.values()].every((collection) => collection.documents.length === 0),
        }))
        .filter((info) => filter.test(info));
      if (body.nameOnly === true) return { databases: all.map(({ name }) => ({ name })), ok: 1 };
      const totalSize = all.reduce((sum, info) => sum + info.sizeOnDisk, 0);
      return { databases: all, totalSize, totalSizeMb: Math.floor(totalSize / 1024 / 1024), ok: 1 };
    },
    listCollections: ({ db, body }) => {
      const filter = new Query(criteriaOf(body.filter));
      const infos = [...(databases.get(db)?.keys() ?? [])]
        .sort()
        .map((name) => ({ name, type: 'collection', options: {}, info: { readOnly: false }, idIndex: { v: 2, key: { _id: 1 }, name: '_id_' } }))
        .filter((info) => filter.test(info))
        .map((info) => (body.nameOnly === true ? { name: info.name, type: info.type } : info));
      return cursorReply(`${db}.$cmd.listCollections`, infos, Number.MAX_SAFE_INTEGER);
    },
    create: ({ db, body }) => {
      const name = requireString(body, 'create');
      if (collectionOf(db, name)) throw new CommandError(48, 'NamespaceExists', `Collection ${db}.${name} already exists.`);
      ensureCollection(db, name);
      return { ok: 1 };
    },
    drop: ({ db, body }) => {
      const name = requireString(body, 'drop');
      const collection = collectionOf(db, name);
      // Like mongod 7.0, dropping a collection that does not exist succeeds.
      if (!collection) return { ok: 1 };
      databases.get(db)?.delete(name);
      state.changed();
      return { ns: `${db}.${name}`, nIndexesWas: collection.indexes.length, ok: 1 };
    },
    dropDatabase: ({ db }) => {
      if (databases.delete(db)) state.changed();
      return { dropped: db, ok: 1 };
    },
    /** Moves the collection — documents, indexes (with their entries) and all — to its new name, across databases too. */
    renameCollection: ({ db, body }) => {
      if (db !== 'admin') throw new CommandError(13, 'Unauthorized', 'renameCollection may only be run against the admin database.');
      const [sourceDb, sourceName] = splitNamespace(requireString(body, 'renameCollection'), 'source');
      const [targetDb, targetName] = splitNamespace(requireString(body, 'to'), 'target');
      const collection = collectionOf(sourceDb, sourceName);
      if (!collection) throw new CommandError(26, 'NamespaceNotFound', `Source collection ${sourceDb}.${sourceName} does not exist`);
      if (sourceDb === targetDb && sourceName === targetName) throw new CommandError(20, 'IllegalOperation', "Can't rename a collection to itself");
      if (collectionOf(targetDb, targetName) && body.dropTarget !== true) throw new CommandError(48, 'NamespaceExists', 'target namespace exists');
      databases.get(sourceDb)?.delete(sourceName);
      let target = databases.get(targetDb);
      if (!target) databases.set(targetDb, (target = new Map()));
      // With dropTarget, this replaces (drops) the collection that had the name.
      target.set(targetName, collection);
      state.changed();
      return { ok: 1 };
    },

    dbStats: ({ db, body }) => {
      const scale = scaleOf(body);
      const collections = [...(databases.get(db)?.values() ?? [])];
      let [objects, dataSize, indexes, indexSize] = [0, 0, 0, 0];
      for (const collection of collections) {
        const sizes = collectionSizes(collection);
        objects += sizes.count;
        dataSize += sizes.size;
        indexes += collection.indexes.length;
        indexSize += sizes.totalIndexSize;
      }
      const scaled = (bytes: number): number => Math.floor(bytes / scale);
      const { dataFile } = state.process;
      const disk = dataFile === undefined ? undefined : statfsSync(path.dirname(dataFile));
      return {
        db,
        collections: collections.length,
        views: 0,
        objects,
        avgObjSize: objects === 0 ? 0 : dataSize / objects,
        dataSize: scaled(dataSize),
        storageSize: scaled(dataSize),
        indexes,
        indexSize: scaled(indexSize),
        totalSize: scaled(dataSize + indexSize),
        scaleFactor: scale,
        // The file system of the data file, when there is one.
        ...(disk ? { fsUsedSize: scaled((disk.blocks - disk.bfree) * disk.bsize), fsTotalSize: scaled(disk.blocks * disk.bsize) } : {}),
        ok: 1,
      };
    },
    /** The command form of $collStats storageStats (mongosh falls back to it); a missing collection has all zeros. */
    collStats: ({ db, body }) => {
      const name = requireString(body, 'collStats');
      const collection = collectionOf(db, name) ?? { documents: [], indexes: [] };
      return { ns: `${db}.${name}`, ...storageStats(collection, scaleOf(body)), ok: 1 };
    },
    serverStatus: () => {
      const uptimeMillis = Date.now() - state.process.startedAt;
      const { current, totalCreated } = state.process.connections();
      return {
        host: hostAndPort(),
        version: VERSION,
        process: 'mongod',
        pid: Long.fromNumber(process.pid),
        uptime: Math.floor(uptimeMillis / 1000),
        uptimeMillis: Long.fromNumber(uptimeMillis),
        uptimeEstimate: Long.fromNumber(Math.floor(uptimeMillis / 1000)),
        localTime: new Date(),
        connections: { current, available: MAX_INCOMING_CONNECTIONS - current, totalCreated },
        opcounters: Object.fromEntries(Object.entries(state.opcounters).map(([counter, value]) => [counter, Long.fromNumber(value)])),
        ok: 1,
      };
    },
    explain: explainCommand,

    insert: ({ db, body }) => {
      const name = requireString(body, 'insert');
      const collection = ensureCollection(db, name);
      let inserted = 0;
      const errors = runStatements(documentArray(body, 'documents'), body.ordered !== false, (document) => {
        state.opcounters.insert += 1;
        insertDocument(collection, `${db}.${name}`, document);
        inserted += 1;
      });
      if (inserted > 0) state.changed();
      return { n: inserted, ...errors, ok: 1 };
    },
    update: updateCommand,
    delete: ({ db, body }) => {
      const name = requireString(body, 'delete');
      let deleted = 0;
      const errors = runStatements(documentArray(body, 'deletes'), body.ordered !== false, (statement) => {
        state.opcounters.delete += 1;
        const collection = collectionOf(db, name);
        const found = matchingDocuments(collection, statement.q);
        const limit = optionalCount(statement, 'limit') ?? 0;
        if (limit !== 0 && limit !== 1) throw badValue(`delete limit must be 0 or 1, got ${limit}`);
        deleted += collection ? deleteDocuments(collection, limit === 1 ? found.slice(0, 1) : found) : 0;
      });
      if (deleted > 0) state.changed();
      return { n: deleted, ...errors, ok: 1 };
    },
    findAndModify,
    findandmodify: findAndModify,

    find: ({ db, body }) => {
      const name = requireString(body, 'find');
      const { documents } = runFind(collectionOf(db, name), body);
      // A negative limit is the legacy spelling of "one batch only".
      const singleBatch = body.singleBatch === true || (optionalCount(body, 'limit') ?? 0) < 0;
      return cursorReply(`${db}.${name}`, documents, optionalCount(body, 'batchSize'), singleBatch);
    },
    getMore: ({ body }) => {
      const id = body.getMore;
      const key = Long.isLong(id) || typeof id === 'number' || typeof id === 'bigint' ? id.toString() : '';
      const cursor = cursors.get(key);
      if (!cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${key} not found`);
      const requested = optionalCount(body, 'batchSize');
      const nextBatch = takeBatch(cursor, requested && requested > 0 ? requested : Number.MAX_SAFE_INTEGER);
      cursor.lastUsed = Date.now();
      const exhausted = cursor.offset >= cursor.documents.length;
      if (exhausted) cursors.delete(key);
      return { cursor: { nextBatch, id: exhausted ? Long.ZERO : Long.fromString(key), ns: cursor.namespace }, ok: 1 };
    },
    killCursors: ({ body }) => {
      const killed: Long[] = [];
      const notFound: Long[] = [];
      for (const id of Array.isArray(body.cursors) ? body.cursors : []) {
        const long = Long.isLong(id) ? id : Long.fromNumber(Number(id));
        (cursors.delete(long.toString()) ? killed : notFound).push(long);
      }
      return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
    },
    aggregate: (request) => {
      const { db, body } = request;
      // The legacy form of explaining a pipeline, answered like {explain: {aggregate…}, verbosity: 'queryPlanner'}.
      if (body.explain === true) {
        const { explain: _flag, ...inner } = body;
        return explainCommand({ ...request, body: { explain: inner, verbosity: 'queryPlanner' } });
      }
      const source = aggregationSource(db, body);
      const results = runStages(db, source.documents, source.stages);
      const cursorOptions = optionalDocument(body, 'cursor') ?? {};
      const namespace = typeof body.aggregate === 'string' ? `${db}.${body.aggregate}` : `${db}.$cmd.aggregate`;
      return cursorReply(namespace, results, optionalCount(cursorOptions, 'batchSize'));
    },
    count: ({ db, body }) => {
      const name = requireString(body, 'count');
      return { n: countOf(matchingDocuments(collectionOf(db, name), body.query).length, body).n, ok: 1 };
    },
    distinct: ({ db, body }) => {
      const name = requireString(body, 'distinct');
      const key = requireString(body, 'key');
      // Array values count element by element, as in mongod.
      const groups = aggregate(matchingDocuments(collectionOf(db, name), body.query), [
        { $project: { value: `$${key}` } },
        { $unwind: '$value' },
        { $group: { _id: '$value' } },
        { $sort: { _id: 1 } },
      ]);
      return { values: groups.map((group) => group._id), ok: 1 };
    },

    createIndexes: ({ db, body }) => {
      const name = requireString(body, 'createIndexes');
      const namespace = `${db}.${name}`;
      const existed = collectionOf(db, name) !== undefined;
      const collection = ensureCollection(db, name);
      const before = collection.indexes.length;
      for (const spec of documentArray(body, 'indexes')) {
        const refused = unstorable(spec, () => overflow(`index specification exceeds ${MAX_STORED_DEPTH} levels of nesting`));
        if (refused) throw refused;
        const index = makeIndex(spec);
        const sameName = collection.indexes.find((existing) => existing.name === index.name);
        const sameKey = collection.indexes.find((existing) => sameBson(existing.spec.key, index.spec.key));
        if (sameName && sameName === sameKey && sameName.unique === index.unique) continue;
        if (sameName) throw new CommandError(86, 'IndexKeySpecsConflict', `An existing index has the same name as the requested index: ${index.name}`);
        if (sameKey) throw new CommandError(85, 'IndexOptionsConflict', `Index already exists with a different name: ${sameKey.name}`);
        if (index.unique) {
          for (const document of collection.documents) {
            for (const { key, keyValue } of indexKeys(index, document)) {
              if (index.entries.has(key)) throw duplicateKeyError(namespace, index, keyValue);
              index.entries.set(key, document);
            }
          }
        }
        collection.indexes.push(index);
        state.changed();
      }
      return {
        numIndexesBefore: before,
        numIndexesAfter: collection.indexes.length,
        createdCollectionAutomatically: !existed,
        ...(before === collection.indexes.length ? { note: 'all indexes already exist' } : {}),
        ok: 1,
      };
    },
    listIndexes: ({ db, body }) => {
      const name = requireString(body, 'listIndexes');
      const collection = collectionOf(db, name);
      if (!collection) throw new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${db}.${name}`);
      return cursorReply(`${db}.${name}`, collection.indexes.map((index) => index.spec), Number.MAX_SAFE_INTEGER);
    },
    dropIndexes: ({ db, body }) => {
      const name = requireString(body, 'dropIndexes');
      const collection = collectionOf(db, name);
      if (!collection) throw new CommandError(26, 'NamespaceNotFound', `ns not found ${db}.${name}`);
      const wanted = body.index;
      const before = collection.indexes.length;
      const doomed =
        wanted === '*'
          ? collection.indexes.slice(1)
          : (Array.isArray(wanted) ? wanted : [wanted]).map((which) => {
              const found = collection.indexes.find((index) => (typeof which === 'string' ? index.name === which : sameBson(index.spec.key, which)));
              if (!found) throw new CommandError(27, 'IndexNotFound', `index not found with name [${typeof which === 'string' ? which : EJSON.stringify(which)}]`);
              if (found.name === '_id_') throw new CommandError(72, 'InvalidOptions', 'cannot drop _id index');
              return found;
            });
      collection.indexes = collection.indexes.filter((index) => !doomed.includes(index));
      if (doomed.length > 0) state.changed();
      return { nIndexesWas: before, ok: 1 };
    },
  };
  for (const name of NOT_IMPLEMENTED) {
    commands[name] = () => {
      throw notSupported(name);
    };
  }
  // What a standalone mongod answers; the message also says why there is no replica set.
  for (const name of ['replSetGetStatus', 'replSetGetConfig', 'replSetInitiate', 'replSetReconfig', 'replSetStepDown']) {
    commands[name] = () => {
      throw new CommandError(76, 'NoReplicationEnabled', 'not running with --replSet: the cloud-parallel local MongoDB server (a test stand-in for mongod) is a standalone');
    };
  }
  return commands;
}

// ---------------------------------------------------------------------------------------------------------
// Wire protocol
// ---------------------------------------------------------------------------------------------------------

/** Cuts a TCP byte stream into whole messages by the int32 length at the start of each. */
class MessageFramer {
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
interface ReplyTarget {
  requestId: number;
  opCode: number;
}

interface ParsedRequest extends ReplyTarget {
  db: string;
  body: Document;
  /** The client wants no reply (OP_MSG moreToCome). */
  noReply: boolean;
}

/**
 * A message whose frame was whole (so the stream stays in step) but whose content is not a valid request: it is
 * answered with `reason` as an error reply, unless the client asked for none.
 */
class MalformedRequest extends Error {
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

/** Sizes of the BSON element types whose values have a fixed size (0xFF minKey and 0x7F maxKey have none). */
const FIXED_VALUE_SIZES: Readonly<Record<number, number>> = { 1: 8, 6: 0, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16, 0x7f: 0, 0xff: 0 };

/**
 * Walks the BSON document in buffer[start, end) without recursion and checks what the `bson` parser (recursive)
 * would otherwise meet first: every length inside its parent, known element types, and nesting at most
 * MAX_WIRE_DEPTH deep. Code-with-scope values are only bounds-checked here; the parser checks their insides.
 */
function checkBsonLayout(buffer: Buffer, start: number, end: number): void {
  /** Where each open document ends (one past its terminating 0); the last is the innermost. */
  const ends: number[] = [end];
  let position = start + 4;
  for (let documentEnd = ends.at(-1); documentEnd !== undefined; documentEnd = ends.at(-1)) {
    if (position >= documentEnd) throw invalidBson('a document runs past its declared size');
    const type = buffer[position] as number;
    if (type === 0) {
      if (position !== documentEnd - 1) throw invalidBson('a document ends before its declared size');
      ends.pop();
      position += 1;
      continue;
    }
    const nameEnd = buffer.indexOf(0, position + 1);
    if (nameEnd < 0 || nameEnd >= documentEnd - 1) throw invalidBson('a field name runs past its document');
    position = nameEnd + 1;
    /** Bytes the value may take: up to the terminating 0 of its document. */
    const room = documentEnd - 1 - position;
    const fixed = FIXED_VALUE_SIZES[type];
    if (fixed !== undefined) {
      if (fixed > room) throw invalidBson(`a value of type ${type} runs past its document`);
      position += fixed;
      continue;
    }
    if (type === 11) {
      // regex: pattern and options, two cstrings
      const patternEnd = buffer.indexOf(0, position);
      const optionsEnd = patternEnd < 0 ? -1 : buffer.indexOf(0, patternEnd + 1);
      if (optionsEnd < 0 || optionsEnd >= documentEnd - 1) throw invalidBson('a regular expression runs past its document');
      position = optionsEnd + 1;
      continue;
    }
    if (room < 4) throw invalidBson(`a value of type ${type} runs past its document`);
    const length = buffer.readInt32LE(position);
    /** Bytes the value takes in all, by its type's layout; NaN where the length is impossible. */
    let size: number;
    if (type === 2 || type === 13 || type === 14) size = length >= 1 ? 4 + length : NaN; // string, code, symbol
    else if (type === 5) size = length >= 0 ? 5 + length : NaN; // binary: length, subtype, bytes
    else if (type === 12) size = length >= 1 ? 16 + length : NaN; // DBPointer: string, ObjectId
    else if (type === 15) size = length >= 14 ? length : NaN; // code with scope: total length counts itself
    else if (type === 3 || type === 4) size = length >= 5 ? length : NaN; // embedded document, array
    else throw invalidBson(`unknown BSON type ${type}`);
    if (!(size <= room)) throw invalidBson(`a value of type ${type} declares ${length} bytes, more than its document holds`);
    if (type === 3 || type === 4) {
      if (ends.length >= MAX_WIRE_DEPTH) throw overflow('BSONObj exceeds maximum nested object depth');
      ends.push(position + size);
      position += 4;
    } else {
      position += size;
    }
  }
}

/** The BSON document at `offset`, which must end by `limit`, and where the next thing starts. */
function readDocument(buffer: Buffer, offset: number, limit: number, what: string): { document: Document; next: number } {
  if (limit - offset < 5) throw protocolError(`${what}: ${limit - offset} bytes left, too few for a document`);
  const size = buffer.readInt32LE(offset);
  if (size < 5 || size > limit - offset) throw invalidBson(`${what}: document size ${size} does not fit the ${limit - offset} bytes left`);
  checkBsonLayout(buffer, offset, offset + size);
  try {
    return { document: deserialize(buffer.subarray(offset, offset + size)), next: offset + size };
  } catch (error) {
    throw invalidBson(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Every length is checked against the message (and each document against its section) before it is used. */
function parseRequest(message: Buffer): ParsedRequest {
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
      if (end - offset < 5) throw protocolError(`OP_MSG document sequence at byte ${offset}: too few bytes left for one`);
      const size = message.readInt32LE(offset);
      if (size < 5 || size > end - offset) {
        throw protocolError(`OP_MSG document sequence size ${size} is not between 5 and the ${end - offset} bytes left in the message`);
      }
      const sectionEnd = offset + size;
      const { value: identifier, next: firstDocument } = readCString(message, offset + 4, sectionEnd, 'OP_MSG document sequence identifier');
      const documents: Document[] = [];
      for (let next = firstDocument; next < sectionEnd; ) {
        if (++sequenced > MAX_WRITE_BATCH_SIZE) {
          throw new CommandError(16, 'InvalidLength', `Write batch sizes must be between 1 and ${MAX_WRITE_BATCH_SIZE}: the document sequences hold more.`);
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

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
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
function encodeReply(request: ReplyTarget, replyId: number, document: Document): Buffer {
  const bson = serialize(document);
  if (bson.length > MAX_REPLY_BSON_SIZE) {
    throw new CommandError(10334, 'BSONObjectTooLarge', `BSONObj size: ${bson.length} is invalid. Size must be between 0 and ${MAX_REPLY_BSON_SIZE}(16MB)`);
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
function errorReply(error: CommandError): Document {
  return { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName, ...error.details };
}

// ---------------------------------------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------------------------------------

function loadDatabases(dataFile: string): Map<string, Database> {
  const databases = new Map<string, Database>();
  if (!existsSync(dataFile)) return databases;
  // relaxed: false keeps Int32/Long/Double apart; the BSON round trip then normalizes them like wire input.
  const saved = EJSON.parse(readFileSync(dataFile, 'utf8'), { relaxed: false }) as { databases?: Record<string, Record<string, Document>> };
  for (const [dbName, collections] of Object.entries(saved.databases ?? {})) {
    const database: Database = new Map();
    for (const [name, savedCollection] of Object.entries(collections)) {
      const collection: Collection = { documents: [], indexes: [] };
      const specs = documentArray(savedCollection, 'indexes');
      collection.indexes = (specs.length > 0 ? specs : [{ key: { _id: 1 }, name: '_id_' }]).map((spec) => makeIndex(cloneDocument(spec)));
      for (const document of documentArray(savedCollection, 'documents')) {
        const stored = cloneDocument(document);
        collection.documents.push(stored);
        addToIndexes(collection, stored);
      }
      database.set(name, collection);
    }
    databases.set(dbName, database);
  }
  return databases;
}

/**
 * Writes `text` to `file` so that neither a crash nor a power cut leaves half a file: a temp file beside it,
 * fsync'd, renamed over it, then the directory fsync'd (where the platform allows) so the rename is kept too.
 */
async function saveAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  try {
    const directory = await open(path.dirname(file), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  } catch {
    // Directories cannot be opened or synced everywhere (Windows); the rename is then as durable as the OS makes it.
  }
}

/** Removes the temp files of saves a killed server never finished (`<file>.<pid>.tmp` of a pid that is gone). */
function removeStaleTempFiles(file: string): void {
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(path.dirname(file));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) && name.endsWith('.tmp') ? Number(name.slice(prefix.length, -'.tmp'.length)) : NaN;
    if (!Number.isInteger(pid) || pid === process.pid || isRunning(pid)) continue;
    rmSync(path.join(path.dirname(file), name), { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a command's write concern asks for the journal: `j: true`, or `w: "majority"`, which implies it. */
function wantsJournal(body: Document): boolean {
  const concern = body.writeConcern;
  return isPlainObject(concern) && (concern.j === true || concern.w === 'majority' || concern.fsync === true);
}

function snapshotText(databases: Map<string, Database>): string {
  const saved: Record<string, Record<string, Document>> = {};
  for (const [dbName, database] of databases) {
    saved[dbName] = Object.fromEntries(
      [...database].map(([name, collection]) => [name, { indexes: collection.indexes.map((index) => index.spec), documents: collection.documents }]),
    );
  }
  return EJSON.stringify({ version: 1, databases: saved }, { relaxed: false });
}

// ---------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------

export async function startMongoServer(options: MongoServerOptions): Promise<RunningMongoServer> {
  const host = options.host ?? '127.0.0.1';
  const log = (message: string): void => {
    if (!options.silent) process.stderr.write(`[mongo] ${message}\n`);
  };
  const dataFile = options.dataFile === undefined ? undefined : path.resolve(options.dataFile);
  if (dataFile) {
    mkdirSync(path.dirname(dataFile), { recursive: true });
    removeStaleTempFiles(dataFile);
  }
  const flushDelayMs = options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS;

  // --- persistence: debounced, one save at a time, each from a snapshot taken when it starts ---
  let dirty = false;
  let flushTimer: NodeJS.Timeout | undefined;
  /** Each save resolves to why it failed, or undefined once everything changed before it began is on disk. */
  let saving: Promise<string | undefined> = Promise.resolve(undefined);
  const flush = (): Promise<string | undefined> => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    saving = saving.then(async () => {
      if (!dataFile || !dirty) return undefined;
      dirty = false;
      try {
        await saveAtomically(dataFile, snapshotText(state.databases));
        return undefined;
      } catch (error) {
        dirty = true;
        const reason = (error as Error).message;
        process.stderr.write(`[mongo] could not save ${dataFile}: ${reason}\n`);
        return reason;
      }
    });
    return saving;
  };

  let nextConnectionId = 1;
  const sockets = new Set<net.Socket>();
  const state: ServerState = {
    databases: dataFile ? loadDatabases(dataFile) : new Map(),
    cursors: new Map(),
    changed: () => {
      if (!dataFile) return;
      dirty = true;
      flushTimer ??= setTimeout(() => void flush(), flushDelayMs);
    },
    opcounters: { insert: 0, query: 0, update: 0, delete: 0, getmore: 0, command: 0 },
    process: {
      startedAt: Date.now(),
      port: options.port,
      dataFile,
      connections: () => ({ current: sockets.size, totalCreated: nextConnectionId - 1 }),
    },
  };
  const commands = createCommands(state);

  const cursorSweep = setInterval(() => {
    const cutoff = Date.now() - CURSOR_IDLE_MS;
    for (const [id, cursor] of state.cursors) if (cursor.lastUsed < cutoff) state.cursors.delete(id);
  }, 60_000);
  cursorSweep.unref();

  const run = (request: CommandRequest): Document => {
    const name = Object.keys(request.body)[0] ?? '';
    const handler = Object.hasOwn(commands, name) ? commands[name] : undefined;
    try {
      if (!handler) {
        log(`unknown command '${name}'`);
        throw new CommandError(59, 'CommandNotFound', `no such command: '${name}'`);
      }
      // insert, update and delete count their statements as they run them.
      if (name === 'find') state.opcounters.query += 1;
      else if (name === 'getMore') state.opcounters.getmore += 1;
      else if (name !== 'insert' && name !== 'update' && name !== 'delete') state.opcounters.command += 1;
      // What a standalone mongod answers to anything inside a transaction (or a retryable write).
      if (request.body.txnNumber !== undefined && name !== 'commitTransaction' && name !== 'abortTransaction') {
        throw new CommandError(20, 'IllegalOperation', 'Transaction numbers are only allowed on a replica set member or mongos');
      }
      return handler(request);
    } catch (error) {
      return errorReply(asCommandError(error));
    }
  };

  let nextReplyId = 1;
  const server = net.createServer((socket) => {
    const connectionId = nextConnectionId++;
    sockets.add(socket);
    socket.setNoDelay(true);
    const framer = new MessageFramer();
    const hangUp = (why: string): void => {
      process.stderr.write(`[mongo] connection ${connectionId}: ${why}; closing it\n`);
      socket.destroy();
    };
    /**
     * Never throws: a reply that cannot be encoded (too large, or a value the serializer refuses) is answered with
     * that error instead, and if even that cannot be sent the connection is closed — the client then sees a
     * network error rather than waiting forever.
     */
    const send = (target: ReplyTarget, reply: Document): void => {
      if (socket.destroyed) return;
      const replyId = nextReplyId++;
      let bytes: Buffer;
      try {
        bytes = encodeReply(target, replyId, reply);
      } catch (error) {
        const reason = error instanceof CommandError ? error : new CommandError(1, 'InternalError', `the reply could not be encoded: ${(error as Error)?.message ?? String(error)}`);
        log(`connection ${connectionId}: ${reason.message}; answering with that error instead`);
        try {
          bytes = encodeReply(target, replyId, errorReply(reason));
        } catch (again) {
          return hangUp(`not even an error reply could be encoded: ${(again as Error)?.message ?? String(again)}`);
        }
      }
      socket.write(bytes);
    };
    // Replies leave in request order: one waiting for the data file to be saved holds back those after it.
    let held: Promise<void> | undefined;
    const answer = (target: ReplyTarget, reply: Document, saved: Promise<string | undefined> | undefined): void => {
      if (saved === undefined && held === undefined) return send(target, reply);
      const mine: Promise<void> = Promise.all([held, saved])
        .then(([, failure]) => {
          if (failure === undefined || reply.ok !== 1) return send(target, reply);
          // Applied but not durable: what mongod reports when a write concern cannot be satisfied.
          send(target, { ...reply, writeConcernError: { code: 64, codeName: 'WriteConcernFailed', errmsg: `the write was applied but could not be saved: ${failure}` } });
        })
        // Neither `held` nor `saved` rejects and send never throws; should that change, the client still gets an answer.
        .catch((error: unknown) => hangUp(`internal error while replying: ${(error as Error)?.stack ?? String(error)}`))
        .finally(() => {
          if (held === mine) held = undefined;
        });
      held = mine;
    };
    socket.on('data', (chunk) => {
      try {
        for (const message of framer.push(chunk)) {
          let request: ParsedRequest;
          try {
            request = parseRequest(message);
          } catch (error) {
            if (!(error instanceof MalformedRequest)) throw error;
            log(`connection ${connectionId}: malformed request ${error.target.requestId}: ${error.message}`);
            if (!error.noReply) answer(error.target, errorReply(error.reason), undefined);
            continue;
          }
          const reply = run({ db: request.db, body: request.body, connectionId });
          if (request.noReply) continue;
          answer(request, reply, dataFile !== undefined && wantsJournal(request.body) ? flush() : undefined);
        }
      } catch (error) {
        // A frame we cannot cut (bad length) or an opcode we do not speak leaves the stream unframed: hang up.
        hangUp((error as Error)?.message ?? String(error));
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      // Failures to accept a connection (EMFILE, …) are the server's, not a client's: log them and keep serving.
      server.on('error', (error) => process.stderr.write(`[mongo] server error: ${error.message}\n`));
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  state.process.port = port;
  server.maxConnections = MAX_INCOMING_CONNECTIONS;
  const uriHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  log(`listening on ${host}:${port}${dataFile ? `, data in ${dataFile}` : ''}`);

  let closed: Promise<void> | undefined;
  return {
    uri: `mongodb://${uriHost}:${port}`,
    port,
    close: () => {
      closed ??= (async () => {
        clearInterval(cursorSweep);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
        await flush();
      })();
      return closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------

export function parseCliArgs(argv: string[]): MongoServerOptions & { silent: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '27017' },
      host: { type: 'string' },
      data: { type: 'string' },
      'flush-delay-ms': { type: 'string' },
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = portOption(values.port);
  const flushDelayMs = integerOption('flush-delay-ms', values['flush-delay-ms'], 0);
  return {
    port,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.data === undefined ? {} : { dataFile: values.data }),
    ...(flushDelayMs === undefined ? {} : { flushDelayMs }),
    silent: values.silent,
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'mongo',
  usage: 'mongo-server.ts [--port 27017] [--host 127.0.0.1] [--data FILE.json] [--flush-delay-ms 50] [--silent]',
  parse: parseCliArgs,
  start: async (options) => {
    const server = await startMongoServer(options);
    return { ready: { uri: server.uri, port: server.port }, close: () => server.close() };
  },
  what: 'closing connections and saving data',
  graceMs: 5000,
});
