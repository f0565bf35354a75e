import { Query } from 'mingo';
import { calculateObjectSize } from 'bson';
import { CommandError } from '../protocol/errors.ts';
import { criteriaOf, requireString } from '../protocol/fields.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/** `db.coll` → [db, coll], or InvalidNamespace. */
function splitNamespace(namespace: string, which: string): [string, string] {
  const dot = namespace.indexOf('.');
  const [db, name] = [namespace.slice(0, dot), namespace.slice(dot + 1)];
  if (dot <= 0 || name === '' || /[/\\. "$\0]/.test(db) || /[$\0]/.test(name)) {
    throw new CommandError(73, 'InvalidNamespace', `Invalid ${which} namespace: ${namespace}`);
  }
  return [db, name];
}

/** listDatabases' entry for each database that has a collection: its name, its documents' BSON size, emptiness. */
function databaseInfos(databases: CommandContext['databases']) {
  return [...databases.entries()]
    .filter(([, database]) => database.size > 0)
    .map(([name, database]) => ({
      name,
      sizeOnDisk: [...database.values()].reduce(
        (bytes, c) => bytes + c.documents.reduce((sum, d) => sum + calculateObjectSize(d), 0),
        0,
      ),
      empty: [...database.values()].every((collection) => collection.documents.length === 0),
    }));
}

/** Databases and collections: listing, creating, dropping and renaming them. */
export function catalogCommands(ctx: CommandContext): Record<string, CommandHandler> {
  const { state, databases, collectionOf, ensureCollection, cursorReply } = ctx;
  return {
    listDatabases: ({ body }) => {
      const filter = new Query(criteriaOf(body.filter));
      const all = databaseInfos(databases).filter((info) => filter.test(info));
      if (body.nameOnly === true) return { databases: all.map(({ name }) => ({ name })), ok: 1 };
      const totalSize = all.reduce((sum, info) => sum + info.sizeOnDisk, 0);
      return { databases: all, totalSize, totalSizeMb: Math.floor(totalSize / 1024 / 1024), ok: 1 };
    },
    listCollections: ({ db, body }) => {
      const filter = new Query(criteriaOf(body.filter));
      const infos = [...(databases.get(db)?.keys() ?? [])]
        .sort()
        .map((name) => ({
          name,
          type: 'collection',
          options: {},
          info: { readOnly: false },
          idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
        }))
        .filter((info) => filter.test(info))
        .map((info) => (body.nameOnly === true ? { name: info.name, type: info.type } : info));
      return cursorReply(`${db}.$cmd.listCollections`, infos, Number.MAX_SAFE_INTEGER);
    },
    create: ({ db, body }) => {
      const name = requireString(body, 'create');
      if (collectionOf(db, name))
        throw new CommandError(48, 'NamespaceExists', `Collection ${db}.${name} already exists.`);
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
      if (db !== 'admin')
        throw new CommandError(13, 'Unauthorized', 'renameCollection may only be run against the admin database.');
      const [sourceDb, sourceName] = splitNamespace(requireString(body, 'renameCollection'), 'source');
      const [targetDb, targetName] = splitNamespace(requireString(body, 'to'), 'target');
      const collection = collectionOf(sourceDb, sourceName);
      if (!collection)
        throw new CommandError(26, 'NamespaceNotFound', `Source collection ${sourceDb}.${sourceName} does not exist`);
      if (sourceDb === targetDb && sourceName === targetName)
        throw new CommandError(20, 'IllegalOperation', "Can't rename a collection to itself");
      if (collectionOf(targetDb, targetName) && body.dropTarget !== true)
        throw new CommandError(48, 'NamespaceExists', 'target namespace exists');
      databases.get(sourceDb)?.delete(sourceName);
      let target = databases.get(targetDb);
      if (!target) {
        target = new Map();
        databases.set(targetDb, target);
      }
      // With dropTarget, this replaces (drops) the collection that had the name.
      target.set(targetName, collection);
      state.changed();
      return { ok: 1 };
    },
  };
}
