import { Long } from 'bson';
import { CommandError } from '../protocol/errors.ts';
import { optionalCount } from '../protocol/fields.ts';
import { takeBatch } from '../state/cursor.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/** getMore and killCursors, over the cursors find, aggregate and the list commands leave open. */
export function cursorCommands(ctx: CommandContext): Record<string, CommandHandler> {
  const { cursors } = ctx;
  return {
    getMore: ({ body }) => {
      const id = body.getMore;
      const key = Long.isLong(id) || typeof id === 'number' || typeof id === 'bigint' ? id.toString() : '';
      const cursor = cursors.get(key);
      if (!cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${key} not found`);
      const requested = optionalCount(body, 'batchSize');
      const nextBatch = takeBatch(cursor, requested && requested > 0 ? requested : Number.MAX_SAFE_INTEGER);
      cursor.lastUsed = Date.now();
      const exhausted = cursor.offset >= cursor.documents.length;
      if (exhausted) cursors.delete(key);
      return { cursor: { nextBatch, id: exhausted ? Long.ZERO : Long.fromString(key), ns: cursor.namespace }, ok: 1 };
    },
    killCursors: ({ body }) => {
      const killed: Long[] = [];
      const notFound: Long[] = [];
      for (const id of Array.isArray(body.cursors) ? body.cursors : []) {
        const long = Long.isLong(id) ? id : Long.fromNumber(Number(id));
        (cursors.delete(long.toString()) ? killed : notFound).push(long);
      }
      return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
    },
  };
}
