import { calculateObjectSize, type Document } from 'bson';
import { MAX_ERRMSG_AFTER_FIRST_ERROR, MAX_WRITE_BATCH_SIZE, MAX_WRITE_ERRORS_BYTES } from '../protocol/constants.ts';
import { CommandError, asCommandError, badValue } from '../protocol/errors.ts';
import {
  criteriaOf,
  documentArray,
  isOperatorUpdate,
  optionalCount,
  optionalDocument,
  requireString,
} from '../protocol/fields.ts';
import { deleteDocuments, insertDocument, replaceDocument } from '../state/collection.ts';
import { matchingDocuments, project } from '../state/query.ts';
import { updateSpecOf, updatedDocument, upsertDocument } from '../state/update.ts';
import { cloneDocument } from '../state/values.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/**
 * Runs the statements of a write command in order. A failing statement becomes a writeErrors entry (the
 * command itself still answers ok: 1, as mongod does) and, when `ordered`, stops the ones after it.
 */
function runStatements(
  statements: Document[],
  ordered: boolean,
  run: (statement: Document, index: number) => void,
): Document {
  if (statements.length > MAX_WRITE_BATCH_SIZE) {
    throw new CommandError(
      16,
      'InvalidLength',
      `Write batch sizes must be between 1 and ${MAX_WRITE_BATCH_SIZE}. Got ${statements.length} operations.`,
    );
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

/** update: each statement changes its first or every match, or inserts (upsert) when nothing matches. */
function updateCommand({ state, collectionOf, ensureCollection }: CommandContext): CommandHandler {
  return ({ db, body }) => {
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
    return {
      n: matched + upserted.length,
      nModified: modified,
      ...(upserted.length > 0 ? { upserted } : {}),
      ...errors,
      ok: 1,
    };
  };
}

/** findAndModify: updates or removes the first match and answers with it, before or after the change. */
function findAndModifyCommand({ state, collectionOf, ensureCollection }: CommandContext): CommandHandler {
  return ({ db, body }) => {
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
      if (replaceDocument(collection, namespace, target, updatedDocument(target, spec, criteria, false)))
        state.changed();
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
}

/** The writes: insert, update (with upserts), delete and findAndModify. */
export function crudCommands(ctx: CommandContext): Record<string, CommandHandler> {
  const { state, collectionOf, ensureCollection } = ctx;
  const findAndModify = findAndModifyCommand(ctx);

  return {
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
    update: updateCommand(ctx),
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
  };
}
