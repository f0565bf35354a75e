import { ObjectId, serialize, type Document } from 'bson';
import { resolve as resolvePath } from 'mingo/util';
import { MAX_STORED_DEPTH } from '../protocol/constants.ts';
import { CommandError, immutableId, overflow } from '../protocol/errors.ts';
import { isPlainObject } from '../protocol/fields.ts';
import { formatKeyValue, keyString, sameBson, sameBytes, unstorable } from './values.ts';

/** Storage: databases → collections → documents (insertion order) + indexes, unique keys enforced on every write. */

export interface Index {
  /** As listIndexes shows it: {v, key, name, unique?, …options the client gave}. */
  spec: Document;
  name: string;
  fields: string[];
  unique: boolean;
  sparse: boolean;
  /** Unique indexes only: key string → the document holding that key. */
  entries: Map<string, Document>;
}

export interface Collection {
  documents: Document[];
  /** indexes[0] is always `_id_`. */
  indexes: Index[];
}

export type Database = Map<string, Collection>;

export function makeIndex(spec: Document): Index {
  const key = spec.key;
  if (!isPlainObject(key) || Object.keys(key).length === 0)
    throw new CommandError(67, 'CannotCreateIndex', "index 'key' must be a non-empty object");
  const name =
    typeof spec.name === 'string'
      ? spec.name
      : Object.entries(key)
          .map(([field, order]) => `${field}_${String(order)}`)
          .join('_');
  const unique = name === '_id_' || spec.unique === true;
  return {
    spec: { v: 2, ...spec, key, name },
    name,
    fields: Object.keys(key),
    unique,
    sparse: spec.sparse === true,
    entries: new Map(),
  };
}

export const newCollection = (): Collection => ({
  documents: [],
  indexes: [makeIndex({ key: { _id: 1 }, name: '_id_' })],
});

/**
 * The keys `document` has in `index` (missing fields count as null, as in mongod), or none for a sparse index
 * the document has none of the fields of. A single-field index on an array field has one key per element.
 */
export function indexKeys(index: Index, document: Document): { key: string; keyValue: Document }[] {
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
  return [
    {
      key: keyString(normalized),
      keyValue: Object.fromEntries(index.fields.map((field, i) => [field, normalized[i]])),
    },
  ];
}

export function duplicateKeyError(namespace: string, index: Index, keyValue: Document): CommandError {
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

export function addToIndexes(collection: Collection, document: Document): void {
  for (const index of collection.indexes) {
    if (index.unique) for (const { key } of indexKeys(index, document)) index.entries.set(key, document);
  }
}

function removeFromIndexes(collection: Collection, document: Document): void {
  for (const index of collection.indexes) {
    if (!index.unique) continue;
    for (const { key } of indexKeys(index, document))
      if (index.entries.get(key) === document) index.entries.delete(key);
  }
}

/** Adds `document` (with `_id` first, generated if missing); E11000 leaves the collection unchanged. */
export function insertDocument(collection: Collection, namespace: string, document: Document): Document {
  const refused = unstorable(document, () =>
    overflow(`cannot insert document because it exceeds ${MAX_STORED_DEPTH} levels of nesting`),
  );
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
export function replaceDocument(collection: Collection, namespace: string, target: Document, next: Document): boolean {
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

export function deleteDocuments(collection: Collection, doomed: Document[]): number {
  if (doomed.length === 0) return 0;
  const doomedSet = new Set(doomed);
  for (const document of doomed) removeFromIndexes(collection, document);
  collection.documents = collection.documents.filter((document) => !doomedSet.has(document));
  return doomed.length;
}
