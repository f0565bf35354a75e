/** What this server says it is (a standalone mongod 7.0) and the limits it holds requests and replies to. */

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;
export const MSG_CHECKSUM_PRESENT = 1 << 0;
export const MSG_MORE_TO_COME = 1 << 1;

/** MongoDB 7.0; the driver 7.x needs 8 or more. */
export const MAX_WIRE_VERSION = 21;
export const VERSION = '7.0.0';
export const GIT_VERSION = 'local-stack';
/** mongod's default net.maxIncomingConnections; serverStatus.connections.available counts down from it. */
export const MAX_INCOMING_CONNECTIONS = 1_000_000;
export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
export const MAX_WRITE_BATCH_SIZE = 100_000;
/**
 * mongod's maxBSONDepth (default 200): a message holding a document nested deeper is refused as a whole, before
 * anything in it runs ("BSONObj exceeds maximum nested object depth", code 15 Overflow).
 */
export const MAX_WIRE_DEPTH = 200;
/**
 * The deepest document this server stores: MongoDB's documented limit ("no more than 100 levels of nesting").
 * mongod itself enforces maxBSONDepth − 20 = 180 on writes, with code 15 Overflow; refusing at 100 keeps anything
 * that works here within what the documentation promises, and keeps the data file (EJSON, written by a recursive
 * serializer) far from the stack depth that makes saving fail.
 */
export const MAX_STORED_DEPTH = 100;
/** mongod's BSONObjMaxInternalSize: no reply document is larger (16 MiB + 16 KiB of envelope). */
export const MAX_REPLY_BSON_SIZE = MAX_BSON_OBJECT_SIZE + 16 * 1024;
/**
 * As mongod's write path does (write_ops_exec generateError, kMaxErrorSizeToReportAfterMaxReasonsReached): after
 * the first write error, an error message longer than this is reported empty.
 */
export const MAX_ERRMSG_AFTER_FIRST_ERROR = 1024 * 1024;
/**
 * This server's bound on the writeErrors of one reply (mongod has none beyond the rule above and fails a reply
 * past 16 MiB): once the entries reach this many BSON bytes, the rest carry only index, code and an empty errmsg,
 * so a batch of up to maxWriteBatchSize failures (≤ ~5 MB of such entries) always fits in one reply.
 */
export const MAX_WRITE_ERRORS_BYTES = 8 * 1024 * 1024;
/** What mongod puts in a first batch when the client names no batchSize. */
export const DEFAULT_FIRST_BATCH = 101;
/** Batches stop growing past this many bytes, leaving room for the reply envelope under 16 MiB. */
export const MAX_BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 64 * 1024;
/** Like mongod's cursorTimeoutMillis: cursors nobody reads for this long are dropped. */
export const CURSOR_IDLE_MS = 10 * 60 * 1000;
export const DEFAULT_FLUSH_DELAY_MS = 50;
