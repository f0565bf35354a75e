import type { Document } from 'bson';
import { update as applyUpdateOperators, updateOne as applyToFirst } from 'mingo';
import type { Modifier, PipelineStage } from 'mingo/updater';
import { CommandError, immutableId, typeMismatch } from '../protocol/errors.ts';
import { isOperatorUpdate, isPlainObject } from '../protocol/fields.ts';
import { cloneDocument, sameBson } from './values.ts';

/** Updates and upserts: the document a statement produces (the operators themselves are mingo's). */

export interface UpdateSpec {
  update: Document | Document[];
  arrayFilters?: Document[];
}

export function updateSpecOf(update: unknown, arrayFilters: unknown): UpdateSpec {
  if (!isPlainObject(update) && !(Array.isArray(update) && update.every(isPlainObject))) {
    throw new CommandError(9, 'FailedToParse', 'the update must be a document or a pipeline (array of stages)');
  }
  if (
    arrayFilters !== undefined &&
    arrayFilters !== null &&
    !(Array.isArray(arrayFilters) && arrayFilters.every(isPlainObject))
  ) {
    throw typeMismatch("'arrayFilters' must be an array of objects");
  }
  return { update, ...(Array.isArray(arrayFilters) ? { arrayFilters } : {}) };
}

/**
 * `original` after the update, as a new document (the original is not touched). `query` is the statement's
 * filter, which mingo needs for the positional `$` operator; `inserting` applies $setOnInsert (an upsert).
 */
export function updatedDocument(original: Document, spec: UpdateSpec, query: Document, inserting: boolean): Document {
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
    if (inserting && isPlainObject(setOnInsert))
      operators.$set = { ...(isPlainObject(operators.$set) ? operators.$set : {}), ...setOnInsert };
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
    } else if (isPlainObject(value) && Object.keys(value).some((operator) => operator.startsWith('$'))) {
      if ('$eq' in value) fields[key] = value.$eq;
    } else {
      fields[key] = value;
    }
  }
  return fields;
}

/** The document an upsert inserts: the filter's equalities plus the update (or just the replacement). */
export function upsertDocument(criteria: Document, spec: UpdateSpec): Document {
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
