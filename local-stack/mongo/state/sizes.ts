import { calculateObjectSize, type Document } from 'bson';
import { badValue } from '../protocol/errors.ts';
import { optionalCount } from '../protocol/fields.ts';
import { indexKeys, type Collection } from './collection.ts';

/** Statistics (dbStats, $collStats): sizes are BSON sizes, as the documents are kept — uncompressed. */

export interface CollectionSizes {
  count: number;
  /** Total BSON size of the documents. */
  size: number;
  /** Per index: the BSON size of every key it holds (`{field: value}` per key), this server's measure of an index. */
  indexSizes: [string, number][];
  totalIndexSize: number;
}

export function collectionSizes(collection: Collection): CollectionSizes {
  const size = collection.documents.reduce((sum, document) => sum + calculateObjectSize(document), 0);
  const indexSizes = collection.indexes.map((index): [string, number] => {
    let bytes = 0;
    for (const document of collection.documents)
      for (const { keyValue } of indexKeys(index, document)) bytes += calculateObjectSize(keyValue);
    return [index.name, bytes];
  });
  return {
    count: collection.documents.length,
    size,
    indexSizes,
    totalIndexSize: indexSizes.reduce((sum, [, bytes]) => sum + bytes, 0),
  };
}

/** The `scale` of dbStats/collStats: sizes are divided by it (whole numbers, as mongod does). */
export function scaleOf(body: Document): number {
  const scale = optionalCount(body, 'scale') ?? 1;
  if (scale < 1) throw badValue('scale has to be >= 1');
  return scale;
}

/** A collection's storageStats as mongod 7.0's $collStats and collStats show them (less the WiredTiger details). */
export function storageStats(collection: Collection, scale: number): Document {
  const { count, size, indexSizes, totalIndexSize } = collectionSizes(collection);
  const scaled = (bytes: number): number => Math.floor(bytes / scale);
  return {
    size: scaled(size),
    count,
    ...(count > 0 ? { avgObjSize: Math.floor(size / count) } : {}),
    numOrphanDocs: 0,
    // Nothing is compressed or preallocated: the storage a collection takes is its documents' size.
    storageSize: scaled(size),
    freeStorageSize: 0,
    capped: false,
    nindexes: collection.indexes.length,
    indexBuilds: [],
    totalIndexSize: scaled(totalIndexSize),
    totalSize: scaled(size + totalIndexSize),
    indexSizes: Object.fromEntries(indexSizes.map(([name, bytes]) => [name, scaled(bytes)])),
    scaleFactor: scale,
  };
}
