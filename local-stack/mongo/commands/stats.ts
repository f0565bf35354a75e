import path from 'node:path';
import { statfsSync } from 'node:fs';
import { requireString } from '../protocol/fields.ts';
import { collectionSizes, scaleOf, storageStats } from '../state/sizes.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/** dbStats and collStats, what mongosh's db.stats() and db.coll.stats() read. */
export function statsCommands(ctx: CommandContext): Record<string, CommandHandler> {
  const { state, databases, collectionOf } = ctx;
  return {
    dbStats: ({ db, body }) => {
      const scale = scaleOf(body);
      const collections = [...(databases.get(db)?.values() ?? [])];
      let [objects, dataSize, indexes, indexSize] = [0, 0, 0, 0];
      for (const collection of collections) {
        const sizes = collectionSizes(collection);
        objects += sizes.count;
        dataSize += sizes.size;
        indexes += collection.indexes.length;
        indexSize += sizes.totalIndexSize;
      }
      const scaled = (bytes: number): number => Math.floor(bytes / scale);
      const { dataFile } = state.process;
      const disk = dataFile === undefined ? undefined : statfsSync(path.dirname(dataFile));
      return {
        db,
        collections: collections.length,
        views: 0,
        objects,
        avgObjSize: objects === 0 ? 0 : dataSize / objects,
        dataSize: scaled(dataSize),
        storageSize: scaled(dataSize),
        indexes,
        indexSize: scaled(indexSize),
        totalSize: scaled(dataSize + indexSize),
        scaleFactor: scale,
        // The file system of the data file, when there is one.
        ...(disk
          ? {
              fsUsedSize: scaled((disk.blocks - disk.bfree) * disk.bsize),
              fsTotalSize: scaled(disk.blocks * disk.bsize),
            }
          : {}),
        ok: 1,
      };
    },
    /** The command form of $collStats storageStats (mongosh falls back to it); a missing collection has all zeros. */
    collStats: ({ db, body }) => {
      const name = requireString(body, 'collStats');
      const collection = collectionOf(db, name) ?? { documents: [], indexes: [] };
      return { ns: `${db}.${name}`, ...storageStats(collection, scaleOf(body)), ok: 1 };
    },
  };
}
