/**
 * The data file: all databases as canonical EJSON (types such as ObjectId, Date, Long survive), loaded at start and
 * saved atomically (temp file, fsync, rename: a crash never leaves half a file) shortly after each write, or before
 * the reply for a write whose write concern asks for the journal.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { EJSON, type Document } from 'bson';
import { documentArray, isPlainObject } from '../protocol/fields.ts';
import { addToIndexes, makeIndex, type Collection, type Database } from './collection.ts';
import { cloneDocument } from './values.ts';

export function loadDatabases(dataFile: string): Map<string, Database> {
  const databases = new Map<string, Database>();
  if (!existsSync(dataFile)) return databases;
  // relaxed: false keeps Int32/Long/Double apart; the BSON round trip then normalizes them like wire input.
  const saved = EJSON.parse(readFileSync(dataFile, 'utf8'), { relaxed: false }) as {
    databases?: Record<string, Record<string, Document>>;
  };
  for (const [dbName, collections] of Object.entries(saved.databases ?? {})) {
    const database: Database = new Map();
    for (const [name, savedCollection] of Object.entries(collections)) {
      const collection: Collection = { documents: [], indexes: [] };
      const specs = documentArray(savedCollection, 'indexes');
      collection.indexes = (specs.length > 0 ? specs : [{ key: { _id: 1 }, name: '_id_' }]).map((spec) =>
        makeIndex(cloneDocument(spec)),
      );
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
export function removeStaleTempFiles(file: string): void {
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(path.dirname(file));
  } catch {
    return;
  }
  for (const name of names) {
    const pid =
      name.startsWith(prefix) && name.endsWith('.tmp') ? Number(name.slice(prefix.length, -'.tmp'.length)) : NaN;
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
export function wantsJournal(body: Document): boolean {
  const concern = body.writeConcern;
  return isPlainObject(concern) && (concern.j === true || concern.w === 'majority' || concern.fsync === true);
}

export function snapshotText(databases: Map<string, Database>): string {
  const saved: Record<string, Record<string, Document>> = {};
  for (const [dbName, database] of databases) {
    saved[dbName] = Object.fromEntries(
      [...database].map(([name, collection]) => [
        name,
        { indexes: collection.indexes.map((index) => index.spec), documents: collection.documents },
      ]),
    );
  }
  return EJSON.stringify({ version: 1, databases: saved }, { relaxed: false });
}

/** Saves of one data file: `changed` schedules one `flushDelayMs` later, `flush` saves now (after any save under way). */
export interface DataFileSaver {
  changed(): void;
  /** Resolves to why the save failed, or undefined once everything changed before it began is on disk. */
  flush(): Promise<string | undefined>;
}

/** Debounced, one save at a time, each from a `snapshot` taken when it starts; without `dataFile` nothing is saved. */
export function dataFileSaver(
  dataFile: string | undefined,
  flushDelayMs: number,
  snapshot: () => string,
): DataFileSaver {
  let dirty = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let saving: Promise<string | undefined> = Promise.resolve(undefined);
  const flush = (): Promise<string | undefined> => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    saving = saving.then(async () => {
      if (!dataFile || !dirty) return undefined;
      dirty = false;
      try {
        await saveAtomically(dataFile, snapshot());
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
  const changed = (): void => {
    if (!dataFile) return;
    dirty = true;
    flushTimer ??= setTimeout(() => void flush(), flushDelayMs);
  };
  return { changed, flush };
}
