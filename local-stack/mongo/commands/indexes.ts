import { EJSON } from 'bson';
import { MAX_STORED_DEPTH } from '../protocol/constants.ts';
import { CommandError, overflow } from '../protocol/errors.ts';
import { documentArray, requireString } from '../protocol/fields.ts';
import { type Collection, duplicateKeyError, type Index, indexKeys, makeIndex } from '../state/collection.ts';
import { sameBson, unstorable } from '../state/values.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/** createIndexes, listIndexes, dropIndexes. Unique indexes are enforced; the others are listed but not used. */
export function indexCommands(ctx: CommandContext): Record<string, CommandHandler> {
  const { state, collectionOf, ensureCollection, cursorReply } = ctx;
  return {
    createIndexes: ({ db, body }) => {
      const name = requireString(body, 'createIndexes');
      const namespace = `${db}.${name}`;
      const existed = collectionOf(db, name) !== undefined;
      const collection = ensureCollection(db, name);
      const before = collection.indexes.length;
      for (const spec of documentArray(body, 'indexes')) {
        const refused = unstorable(spec, () =>
          overflow(`index specification exceeds ${MAX_STORED_DEPTH} levels of nesting`),
        );
        if (refused) throw refused;
        const index = makeIndex(spec);
        const sameName = collection.indexes.find((existing) => existing.name === index.name);
        const sameKey = collection.indexes.find((existing) => sameBson(existing.spec.key, index.spec.key));
        if (sameName && sameName === sameKey && sameName.unique === index.unique) continue;
        if (sameName)
          throw new CommandError(
            86,
            'IndexKeySpecsConflict',
            `An existing index has the same name as the requested index: ${index.name}`,
          );
        if (sameKey)
          throw new CommandError(
            85,
            'IndexOptionsConflict',
            `Index already exists with a different name: ${sameKey.name}`,
          );
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
      return cursorReply(
        `${db}.${name}`,
        collection.indexes.map((index) => index.spec),
        Number.MAX_SAFE_INTEGER,
      );
    },
    dropIndexes: ({ db, body }) => {
      const name = requireString(body, 'dropIndexes');
      const collection = collectionOf(db, name);
      if (!collection) throw new CommandError(26, 'NamespaceNotFound', `ns not found ${db}.${name}`);
      const wanted = body.index;
      const before = collection.indexes.length;
      const doomed = indexesToDrop(collection, wanted);
      collection.indexes = collection.indexes.filter((index) => !doomed.includes(index));
      if (doomed.length > 0) state.changed();
      return { nIndexesWas: before, ok: 1 };
    },
  };
}

/** The indexes dropIndexes' `index` names: '*' (all but _id_), a name, a key pattern, or an array of those. */
function indexesToDrop(collection: Collection, wanted: unknown): Index[] {
  return wanted === '*'
    ? collection.indexes.slice(1)
    : (Array.isArray(wanted) ? wanted : [wanted]).map((which) => {
        const found = collection.indexes.find((index) =>
          typeof which === 'string' ? index.name === which : sameBson(index.spec.key, which),
        );
        if (!found)
          throw new CommandError(
            27,
            'IndexNotFound',
            `index not found with name [${typeof which === 'string' ? which : EJSON.stringify(which)}]`,
          );
        if (found.name === '_id_') throw new CommandError(72, 'InvalidOptions', 'cannot drop _id index');
        return found;
      });
}
