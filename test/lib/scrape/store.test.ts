/**
 * The scrape store against the MongoDB-wire server with the real driver: indexes, per-document write errors
 * that keep the other writes, whole-batch failures, and the batching writer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, MongoNetworkError, MongoServerError, type Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { createScrapeStore, type ScrapeDocument, type ScrapeRecord } from '../../../lib/scrape/index.ts';
import { startMongoServer } from '../../../local-stack/mongo/server.ts';
import { useLocalMongo } from '../../support/scrape.ts';

const { freshDb } = useLocalMongo('scrape_store');

const record = (sourceId: string, data: Record<string, unknown>): ScrapeRecord => ({ source: 'test', sourceId, data });

describe('scrape store', () => {
  it('creates its indexes once, however many callers ask at the same time', async () => {
    const db = freshDb();
    const store = createScrapeStore(db, { collection: 'things' });
    await Promise.all([store.ensureIndexes(), store.ensureIndexes(), store.ensureIndexes()]);
    const names = (await db.collection('things').listIndexes().toArray()).map((index) => index.name as string);
    expect(names.sort()).toEqual(['_id_', 'source_sourceId', 'source_updatedAt']);
  });

  it('upserts idempotently, keeps firstSeenAt, and moves updatedAt only when the data changed', async () => {
    const db = freshDb();
    let clock = Date.parse('2025-01-01T00:00:00Z');
    const store = createScrapeStore(db, { collection: 'things', now: () => new Date(clock) });
    await store.ensureIndexes();
    // Values that look like expressions ("$$", a "$" key) are stored as given.
    const records = [record('a', { price: '$$', n: 1 }), record('b', { nested: { list: [1, 2, { x: null }] } })];
    expect(await store.upsert(records)).toEqual({ upserted: 2, modified: 0, unchanged: 0, failed: [] });
    clock += 60_000;
    expect(await store.upsert(records)).toEqual({ upserted: 0, modified: 0, unchanged: 2, failed: [] });
    clock += 60_000;
    expect(await store.upsert([record('a', { price: '$$$', n: 1 }), records[1] as ScrapeRecord])).toEqual({
      upserted: 0,
      modified: 1,
      unchanged: 1,
      failed: [],
    });
    const a = await db.collection<ScrapeDocument>('things').findOne({ _id: 'test:a' });
    expect(a).toEqual({
      _id: 'test:a',
      source: 'test',
      sourceId: 'a',
      data: { price: '$$$', n: 1 },
      firstSeenAt: new Date('2025-01-01T00:00:00Z'),
      updatedAt: new Date('2025-01-01T00:02:00Z'),
    });
    const b = await db.collection<ScrapeDocument>('things').findOne({ _id: 'test:b' });
    expect(b?.updatedAt).toEqual(new Date('2025-01-01T00:00:00Z'));
  });

  it('reports write errors per document and still counts the writes that succeeded', async () => {
    const db = freshDb();
    const store = createScrapeStore(db, { collection: 'things' });
    await store.ensureIndexes();
    await db.collection('things').createIndex({ 'data.email': 1 }, { unique: true });
    const summary = await store.upsert([
      record('1', { email: 'a@x' }),
      record('2', { email: 'a@x' }),
      record('3', { email: 'b@x' }),
    ]);
    expect(summary).toMatchObject({ upserted: 2, modified: 0, unchanged: 0 });
    expect(summary.failed).toEqual([{ id: '2', reason: expect.stringMatching(/^write failed: E11000 duplicate key/) }]);
    expect(await db.collection('things').countDocuments()).toBe(2);
  });

  it('retries a batch the database never took for retryForMs, then reports every record of it', async () => {
    const gone = await startMongoServer({ port: 0, silent: true });
    const doomed = await new MongoClient(gone.uri, { serverSelectionTimeoutMS: 100 }).connect();
    try {
      await gone.close();
      const store = createScrapeStore(doomed.db('x'), { collection: 'things' });
      const started = Date.now();
      const summary = await store.upsert([record('1', { n: 1 }), record('2', { n: 2 })], { retryForMs: 1000 });
      const elapsed = Date.now() - started;
      expect(summary).toMatchObject({ upserted: 0, modified: 0, unchanged: 0 });
      expect(summary.failed.map((failure) => failure.id)).toEqual(['1', '2']);
      expect(summary.failed[0]?.reason).toMatch(
        /^write failed: .*\((\d+) attempts in [\d.]+ s; the batch may or may not have been written/,
      );
      expect(Number(/\((\d+) attempts/.exec(summary.failed[0]?.reason ?? '')?.[1])).toBeGreaterThan(1);
      // Attempts start only within the budget, and none is waited on for more than 2 s.
      expect(elapsed).toBeGreaterThanOrEqual(500);
      expect(elapsed).toBeLessThan(3000);
      // Past the deadline, nothing is attempted.
      const late = await store.upsert([record('3', { n: 3 })], { deadlineAt: Date.now() - 1 });
      expect(late.failed).toEqual([
        { id: '3', reason: expect.stringMatching(/^write failed: the write deadline passed .*\(0 attempts in 0\.0 s/) },
      ]);
    } finally {
      await doomed.close();
    }
  });

  it('retries only failures that can pass: a refused command is reported at once, a dropped connection is written again', async () => {
    const outcomes: Array<() => never> = [
      () => {
        throw new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed');
      },
      () => {
        throw new MongoServerError({ message: 'not primary', code: 10107, codeName: 'NotWritablePrimary' });
      },
    ];
    let calls = 0;
    const stubDb = (refuse: boolean) =>
      ({
        collection: () => ({
          bulkWrite: async () => {
            calls++;
            if (refuse)
              throw new MongoServerError({
                message: 'not authorized on x to execute command { update: "things" }',
                code: 13,
                codeName: 'Unauthorized',
              });
            const next = outcomes.shift();
            if (next) next();
            return { upsertedCount: 2, modifiedCount: 0, matchedCount: 0 };
          },
        }),
      }) as unknown as Db;

    const refused = await createScrapeStore(stubDb(true), { collection: 'things' }).upsert([
      record('1', {}),
      record('2', {}),
    ]);
    expect(calls).toBe(1);
    expect(refused.failed).toEqual([
      { id: '1', reason: 'write failed: not authorized on x to execute command { update: "things" }' },
      { id: '2', reason: 'write failed: not authorized on x to execute command { update: "things" }' },
    ]);

    calls = 0;
    const written = await createScrapeStore(stubDb(false), { collection: 'things' }).upsert([
      record('1', {}),
      record('2', {}),
    ]);
    expect(calls).toBe(3);
    expect(written).toEqual({ upserted: 2, modified: 0, unchanged: 0, failed: [] });
  });

  it('writes in batches of maxDocs, flushes a lone record after maxWaitMs, and flushes the rest on close', async () => {
    const db = freshDb();
    const store = createScrapeStore(db, { collection: 'things' });
    await store.ensureIndexes();
    const flushes: number[] = [];
    const writer = store.createWriter({ maxDocs: 3, maxWaitMs: 20, onFlush: ({ written }) => flushes.push(written) });
    writer.add(record('lonely', { n: 0 }));
    await sleep(200);
    expect(await db.collection('things').countDocuments()).toBe(1);
    for (let n = 1; n <= 7; n++) writer.add(record(`r${n}`, { n }));
    const totals = await writer.close();
    expect(totals).toEqual({ upserted: 8, modified: 0, unchanged: 0, failed: [] });
    expect(flushes).toEqual([1, 4, 7, 8]);
    expect(await db.collection('things').countDocuments()).toBe(8);
  });
});
