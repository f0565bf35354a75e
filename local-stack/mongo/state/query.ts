import type { Document } from 'bson';
import { find } from 'mingo';
import { resolve as resolvePath } from 'mingo/util';
import { badValue } from '../protocol/errors.ts';
import { criteriaOf, isPlainObject, optionalCount, optionalDocument } from '../protocol/fields.ts';
import type { Collection, Index } from './collection.ts';
import { keyString, showValue } from './values.ts';

/** Queries over a collection: which documents match, in what order, and the plan that found them (for explain). */

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
export interface PlanStage {
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
export function parsedQuery(criteria: Document): Document {
  const predicates: Document[] = [];
  for (const [field, condition] of Object.entries(criteria)) {
    if (field.startsWith('$')) predicates.push({ [field]: condition });
    else if (isPlainObject(condition) && Object.keys(condition).some((key) => key.startsWith('$'))) {
      for (const [operator, operand] of Object.entries(condition))
        predicates.push({ [field]: { [operator]: operand } });
    } else if (condition instanceof RegExp) {
      predicates.push({
        [field]: { $regex: condition.source, ...(condition.flags ? { $options: condition.flags } : {}) },
      });
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
export function runQuery(
  collection: Collection | undefined,
  filter: unknown,
  sort?: Document,
): { documents: Document[]; plan: PlanStage } {
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
    plan = {
      spec: () => ({ stage: 'COLLSCAN', ...filterSpec(), direction: 'forward' }),
      nReturned: matched.length,
      docsExamined: candidates.length,
    };
  } else if (lookup.index.name === '_id_' && Object.keys(criteria).length === 1) {
    // mongod's fast path for a query that is nothing but an _id equality.
    plan = {
      spec: { stage: 'IDHACK' },
      nReturned: matched.length,
      keysExamined: candidates.length,
      docsExamined: candidates.length,
    };
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
    plan = {
      spec: () => ({ stage: 'FETCH', ...filterSpec() }),
      input: scan,
      nReturned: matched.length,
      docsExamined: candidates.length,
    };
  }
  if (!sort || Object.keys(sort).length === 0) return { documents: matched, plan };
  const sorted = find(matched, {}).sort(sort).all();
  const spec = { stage: 'SORT', sortPattern: sort, memLimit: 104_857_600, type: 'simple' };
  return { documents: sorted, plan: { spec, input: plan, nReturned: sorted.length } };
}

export const matchingDocuments = (collection: Collection | undefined, filter: unknown, sort?: Document): Document[] =>
  runQuery(collection, filter, sort).documents;

export function project(document: Document, projection: Document | undefined): Document {
  if (!projection || Object.keys(projection).length === 0) return document;
  return find([document], {}, projection).all()[0] ?? {};
}

/** The documents a find command returns (filter, sort, skip, limit, projection) and the plan that produced them. */
export function runFind(
  collection: Collection | undefined,
  body: Document,
): { documents: Document[]; plan: PlanStage } {
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
