import { randomInt } from 'node:crypto';
import os from 'node:os';
import { Long, type Document } from 'bson';
import { DEFAULT_FIRST_BATCH } from '../protocol/constants.ts';
import { CommandError } from '../protocol/errors.ts';
import { newCollection, type Collection, type Database } from '../state/collection.ts';
import { takeBatch, type Cursor } from '../state/cursor.ts';

/** What every command handler gets: the request, the server's state, and the helpers several command groups share. */

export interface CommandRequest {
  db: string;
  body: Document;
  connectionId: number;
}

export type CommandHandler = (request: CommandRequest) => Document;

/** serverStatus.opcounters, counted as mongod counts them. */
export interface Opcounters {
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

export interface ServerState {
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

/** The server's state and what command groups share: finding and creating collections, opening cursors. */
export interface CommandContext {
  state: ServerState;
  databases: Map<string, Database>;
  cursors: Map<string, Cursor>;
  /** As mongod reports itself: the host name, and the port unless it is the default. */
  hostAndPort(): string;
  collectionOf(db: string, name: string): Collection | undefined;
  /** The collection, created (and the change recorded) if it does not exist; refuses names mongod refuses. */
  ensureCollection(db: string, name: string): Collection;
  /** A reply with a first batch; the rest stays behind a cursor id for getMore (unless `singleBatch`). */
  cursorReply(namespace: string, documents: Document[], batchSize: number | undefined, singleBatch?: boolean): Document;
}

export function commandContext(state: ServerState): CommandContext {
  const { databases, cursors } = state;
  const hostAndPort = (): string => `${os.hostname()}${state.process.port === 27017 ? '' : `:${state.process.port}`}`;

  const collectionOf = (db: string, name: string): Collection | undefined => databases.get(db)?.get(name);
  const ensureCollection = (db: string, name: string): Collection => {
    // Names become keys of the data file and of every later namespace: refuse what mongod refuses.
    if (db === '' || /[/\\. "$\0]/.test(db))
      throw new CommandError(73, 'InvalidNamespace', `Invalid database name: '${db.replaceAll('\0', '\\0')}'`);
    if (name === '' || /[$\0]/.test(name))
      throw new CommandError(73, 'InvalidNamespace', `Invalid collection name: '${name.replaceAll('\0', '\\0')}'`);
    let database = databases.get(db);
    if (!database) {
      database = new Map();
      databases.set(db, database);
    }
    let collection = database.get(name);
    if (!collection) {
      collection = newCollection();
      database.set(name, collection);
      state.changed();
    }
    return collection;
  };

  const cursorReply = (
    namespace: string,
    documents: Document[],
    batchSize: number | undefined,
    singleBatch = false,
  ): Document => {
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
  return { state, databases, cursors, hostAndPort, collectionOf, ensureCollection, cursorReply };
}
