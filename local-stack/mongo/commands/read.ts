import { aggregate } from 'mingo';
import type { Document } from 'bson';
import { optionalCount, requireString } from '../protocol/fields.ts';
import { matchingDocuments, runFind } from '../state/query.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/** What a count command answers for `matched` documents, after its skip and limit. */
export function countOf(matched: number, body: Document): { n: number; skipped: number } {
  const skip = Math.max(0, optionalCount(body, 'skip') ?? 0);
  const limit = Math.abs(optionalCount(body, 'limit') ?? 0);
  const left = Math.max(0, matched - skip);
  return { n: limit === 0 ? left : Math.min(limit, left), skipped: matched - left };
}

/** The reads that are not pipelines: find, count, distinct. */
export function readCommands(ctx: CommandContext): Record<string, CommandHandler> {
  const { collectionOf, cursorReply } = ctx;
  return {
    find: ({ db, body }) => {
      const name = requireString(body, 'find');
      const { documents } = runFind(collectionOf(db, name), body);
      // A negative limit is the legacy spelling of "one batch only".
      const singleBatch = body.singleBatch === true || (optionalCount(body, 'limit') ?? 0) < 0;
      return cursorReply(`${db}.${name}`, documents, optionalCount(body, 'batchSize'), singleBatch);
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
  };
}
