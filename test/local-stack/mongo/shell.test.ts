/**
 * The local MongoDB server (local-stack/mongo/) answering what mongosh's inspection helpers send —
 * db.stats() (dbStats), db.coll.stats() ($collStats, collStats), .explain(), renameCollection, serverStatus —
 * driven with the real `mongodb` driver by the same commands. Expected sizes are computed here, independently,
 * with bson's calculateObjectSize. Each test uses its own database (or server) so they stay independent.
 */
import os from 'node:os';
import path from 'node:path';
import { calculateObjectSize, type Document } from 'bson';
import { MongoClient, MongoServerError, ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../local-stack/mongo/server.ts';
import { useLocalMongo } from '../../support/scrape.ts';

const mongo = useLocalMongo('local_mongo_shell');

const failure = (promise: Promise<unknown>): Promise<MongoServerError> =>
  promise.then(
    () => {
      throw new Error('expected the command to fail');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(MongoServerError);
      return error as MongoServerError;
    },
  );

/** Documents whose _id is whatever the test gives (the driver's default type wants an ObjectId). */
type Row = { _id?: number | string | ObjectId; [field: string]: unknown };

const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

describe('dbStats and collection stats', () => {
  const people: Document[] = [
    { _id: 1, name: 'ann', email: 'ann@example.org', age: 30, tags: ['a', 'b'] },
    { _id: 2, name: 'bob', email: 'bob@example.org', joined: new Date('2024-01-02T03:04:05Z') },
    {
      _id: 3,
      name: 'cid with a much longer name',
      email: 'cid@example.org',
      age: 41.5,
      nested: { deep: { deeper: true } },
    },
    { _id: new ObjectId(), name: 'dee', email: 'dee@example.org', age: 7 },
  ];
  /** What the test expects an index to weigh: the BSON size of each document's key. */
  const keySizes = (documents: Document[], key: (document: Document) => Document): number =>
    sum(documents.map((document) => calculateObjectSize(key(document))));

  it('reports counts and BSON sizes of documents and indexes, scaled', async () => {
    const db = mongo.client().db('t_stats');
    await db.collection<Row>('people').insertMany(people.map((person) => ({ ...person })));
    await db.collection<Row>('people').createIndex({ email: 1 }, { unique: true });
    await db.collection<Row>('people').createIndex({ age: 1, name: -1 });
    await db.collection<Row>('notes').insertOne({ _id: 'n1', text: 'hello' });

    const peopleSize = sum(people.map((person) => calculateObjectSize(person)));
    const indexSizes = {
      _id_: keySizes(people, ({ _id }) => ({ _id })),
      email_1: keySizes(people, ({ email }) => ({ email })),
      // A missing field is keyed as null, as in mongod.
      'age_1_name_-1': keySizes(people, ({ age, name }) => ({ age: age ?? null, name })),
    };
    const peopleIndexSize = sum(Object.values(indexSizes));
    const notesSize = calculateObjectSize({ _id: 'n1', text: 'hello' });
    const notesIndexSize = calculateObjectSize({ _id: 'n1' });

    const stats = await db.command({ dbStats: 1 });
    expect(stats).toMatchObject({
      db: 't_stats',
      collections: 2,
      views: 0,
      objects: 5,
      dataSize: peopleSize + notesSize,
      storageSize: peopleSize + notesSize,
      indexes: 4,
      indexSize: peopleIndexSize + notesIndexSize,
      totalSize: peopleSize + notesSize + peopleIndexSize + notesIndexSize,
      scaleFactor: 1,
      ok: 1,
    });
    expect(stats.avgObjSize).toBeCloseTo((peopleSize + notesSize) / 5, 10);
    const scaled = await db.command({ dbStats: 1, scale: 7 });
    expect(scaled).toMatchObject({
      dataSize: Math.floor((peopleSize + notesSize) / 7),
      indexSize: Math.floor((peopleIndexSize + notesIndexSize) / 7),
      scaleFactor: 7,
    });
    expect(await db.command({ dbStats: 1, scale: 0 }).catch((error: unknown) => (error as MongoServerError).code)).toBe(
      2,
    );
    expect(await mongo.client().db('t_stats_nothing').command({ dbStats: 1 })).toMatchObject({
      collections: 0,
      objects: 0,
      avgObjSize: 0,
      dataSize: 0,
      indexes: 0,
    });

    // What db.coll.stats() in mongosh 2.x sends.
    const [collStats] = await db
      .collection<Row>('people')
      .aggregate([{ $collStats: { storageStats: { scale: 1 } } }])
      .toArray();
    expect(collStats?.ns).toBe('t_stats.people');
    expect(collStats?.localTime).toBeInstanceOf(Date);
    expect(collStats?.storageStats).toEqual({
      size: peopleSize,
      count: 4,
      avgObjSize: Math.floor(peopleSize / 4),
      numOrphanDocs: 0,
      storageSize: peopleSize,
      freeStorageSize: 0,
      capped: false,
      nindexes: 3,
      indexBuilds: [],
      totalIndexSize: peopleIndexSize,
      totalSize: peopleSize + peopleIndexSize,
      indexSizes,
      scaleFactor: 1,
    });
    // db.coll.totalIndexSize() and friends in mongosh: $collStats followed by ordinary stages.
    const [total] = await db
      .collection<Row>('people')
      .aggregate([
        { $collStats: { storageStats: {} } },
        { $group: { _id: null, value: { $sum: '$storageStats.totalIndexSize' } } },
      ])
      .toArray();
    expect(total?.value).toBe(peopleIndexSize);
    const [counted] = await db
      .collection<Row>('notes')
      .aggregate([{ $collStats: { count: {} } }])
      .toArray();
    expect(counted).toMatchObject({ ns: 't_stats.notes', count: 1 });
    expect(counted?.storageStats).toBeUndefined();

    // The collStats command (mongosh's fallback) agrees, scale included.
    const legacy = await db.command({ collStats: 'people', scale: 3 });
    expect(legacy).toMatchObject({
      ns: 't_stats.people',
      size: Math.floor(peopleSize / 3),
      count: 4,
      avgObjSize: Math.floor(peopleSize / 4),
      nindexes: 3,
    });
    expect(legacy.indexSizes).toEqual(
      Object.fromEntries(Object.entries(indexSizes).map(([name, bytes]) => [name, Math.floor(bytes / 3)])),
    );

    // Sizes follow the data: deleting a document takes exactly its size off.
    await db.collection<Row>('people').deleteOne({ _id: 3 });
    const [after] = await db
      .collection<Row>('people')
      .aggregate([{ $collStats: { storageStats: {} } }])
      .toArray();
    const third = people[2] as Document;
    expect(after?.storageStats).toMatchObject({
      count: 3,
      size: peopleSize - calculateObjectSize(third),
      totalIndexSize:
        peopleIndexSize -
        calculateObjectSize({ _id: 3 }) -
        calculateObjectSize({ email: third.email }) -
        calculateObjectSize({ age: third.age, name: third.name }),
    });
  });

  it('fails for a missing collection as mongod 7.0 does, and refuses the stats it does not keep', async () => {
    const db = mongo.client().db('t_stats_missing');
    const aggregateFailure = (name: string, pipeline: Document[]) =>
      failure(db.collection<Row>(name).aggregate(pipeline).toArray());
    const missing = await aggregateFailure('nope', [{ $collStats: { storageStats: {} } }]);
    expect(missing.code).toBe(26);
    expect(missing.message).toContain('Collection [t_stats_missing.nope] not found');
    expect(await db.command({ collStats: 'nope' })).toMatchObject({
      ns: 't_stats_missing.nope',
      count: 0,
      size: 0,
      nindexes: 0,
      ok: 1,
    });

    await db.collection<Row>('c').insertOne({ a: 1 });
    const latency = await aggregateFailure('c', [{ $collStats: { latencyStats: {} } }]);
    expect(latency.code).toBe(115);
    expect(latency.message).toContain('not supported by the cloud-parallel local MongoDB server');
    const notFirst = await aggregateFailure('c', [{ $match: {} }, { $collStats: { count: {} } }]);
    expect(notFirst.code).toBe(40602);
  });
});

describe('explain', () => {
  const setUp = async (name: string) => {
    const collection = mongo.client().db('t_explain').collection<Row>(name);
    await collection.insertMany(
      Array.from({ length: 20 }, (_, i) => ({ _id: i, email: `u${i}@x.org`, group: i % 4, name: `n${i}` })),
    );
    await collection.createIndex({ email: 1 }, { unique: true });
    await collection.createIndex({ group: 1 }); // not unique: listed, not used
    return collection;
  };

  it('describes a find the way the server runs it: IDHACK, FETCH over IXSCAN, or COLLSCAN', async () => {
    const users = await setUp('users');

    const byId = await users.find({ _id: 7 }).explain('executionStats');
    expect(byId.queryPlanner).toMatchObject({
      namespace: 't_explain.users',
      parsedQuery: { _id: { $eq: 7 } },
      winningPlan: { stage: 'IDHACK' },
      rejectedPlans: [],
    });
    expect(byId.executionStats).toMatchObject({
      executionSuccess: true,
      nReturned: 1,
      totalKeysExamined: 1,
      totalDocsExamined: 1,
    });
    expect(typeof byId.executionStats.executionTimeMillis).toBe('number');
    const absent = await users.find({ _id: 99 }).explain('executionStats');
    expect(absent.executionStats).toMatchObject({ nReturned: 0, totalKeysExamined: 0, totalDocsExamined: 0 });

    const byEmail = await users.find({ email: 'u3@x.org', name: 'n3' }).explain('executionStats');
    expect(byEmail.queryPlanner.winningPlan).toMatchObject({
      stage: 'FETCH',
      filter: { name: { $eq: 'n3' } },
      inputStage: {
        stage: 'IXSCAN',
        keyPattern: { email: 1 },
        indexName: 'email_1',
        isUnique: true,
        indexBounds: { email: ['["u3@x.org", "u3@x.org"]'] },
      },
    });
    expect(byEmail.queryPlanner.parsedQuery).toEqual({
      $and: [{ email: { $eq: 'u3@x.org' } }, { name: { $eq: 'n3' } }],
    });
    expect(byEmail.executionStats).toMatchObject({ nReturned: 1, totalKeysExamined: 1, totalDocsExamined: 1 });
    // An _id equality with more conditions is an index scan too, not IDHACK.
    expect((await users.find({ _id: 2, group: 2 }).explain('queryPlanner')).queryPlanner.winningPlan).toMatchObject({
      stage: 'FETCH',
      inputStage: { stage: 'IXSCAN', indexName: '_id_' },
    });

    // A non-unique index is not used: every document is examined.
    const byGroup = await users.find({ group: 1 }).explain('executionStats');
    expect(byGroup.queryPlanner.winningPlan).toEqual({
      stage: 'COLLSCAN',
      filter: { group: { $eq: 1 } },
      direction: 'forward',
    });
    expect(byGroup.executionStats).toMatchObject({ nReturned: 5, totalKeysExamined: 0, totalDocsExamined: 20 });

    // Sort, skip, limit and projection on top, in the order they are applied, with their counts.
    const paged = await users
      .find({ group: { $gte: 2 } }, { projection: { name: 1 } })
      .sort({ _id: -1 })
      .skip(3)
      .limit(4)
      .explain('executionStats');
    const stages: string[] = [];
    for (let stage = paged.queryPlanner.winningPlan; stage; stage = stage.inputStage) stages.push(stage.stage);
    expect(stages).toEqual(['PROJECTION_DEFAULT', 'LIMIT', 'SKIP', 'SORT', 'COLLSCAN']);
    const counts: number[] = [];
    for (let stage = paged.executionStats.executionStages; stage; stage = stage.inputStage)
      counts.push(stage.nReturned);
    expect(counts).toEqual([4, 4, 7, 10, 10]);

    // queryPlanner verbosity has no executionStats; the driver's explain() asks for allPlansExecution.
    expect((await users.find({ _id: 1 }).explain('queryPlanner')).executionStats).toBeUndefined();
    expect((await users.find({ _id: 1 }).explain()).executionStats.allPlansExecution).toEqual([]);
    const wrapped = await mongo
      .client()
      .db('t_explain')
      .command({ explain: { find: 'users', filter: { _id: 1 } }, verbosity: 'queryPlanner' });
    expect(wrapped).toMatchObject({
      explainVersion: '1',
      command: { find: 'users', filter: { _id: 1 }, $db: 't_explain' },
      serverInfo: { version: '7.0.0', port: mongo.server().port },
      ok: 1,
    });
    expect((await users.find({ a: 1 }).explain('executionStats')).executionStats.totalDocsExamined).toBe(20);
    expect(
      (await mongo.client().db('t_explain').collection<Row>('nothing').find({}).explain('queryPlanner')).queryPlanner
        .winningPlan,
    ).toEqual({ stage: 'EOF' });
  });

  it('explains aggregate, count and distinct', async () => {
    const orders = await setUp('orders');
    const db = mongo.client().db('t_explain');

    const grouped = await orders
      .aggregate([
        { $match: { _id: { $lt: 6 } } },
        { $group: { _id: '$group', n: { $sum: 1 } } },
        { $sort: { _id: 1 } },
      ])
      .explain('executionStats');
    expect(grouped.stages).toHaveLength(3);
    expect(grouped.stages[0].$cursor.queryPlanner.winningPlan).toEqual({
      stage: 'COLLSCAN',
      filter: { _id: { $lt: 6 } },
      direction: 'forward',
    });
    expect(grouped.stages[0].$cursor.executionStats).toMatchObject({ nReturned: 6, totalDocsExamined: 20 });
    expect(grouped.stages.map((stage: Document) => stage.nReturned)).toEqual([6, 4, 4]);
    expect(grouped.stages[1].$group).toEqual({ _id: '$group', n: { $sum: 1 } });
    // Only a $match: the pipeline is the query, explained like a find (as mongod does).
    const matchOnly = await orders.aggregate([{ $match: { _id: 5 } }]).explain('queryPlanner');
    expect(matchOnly.queryPlanner.winningPlan).toEqual({ stage: 'IDHACK' });
    expect(matchOnly.stages).toBeUndefined();
    // The legacy {aggregate, explain: true} form answers the queryPlanner explain.
    const legacy = await db.command({
      aggregate: 'orders',
      pipeline: [{ $match: { email: 'u1@x.org' } }, { $project: { _id: 1 } }],
      explain: true,
    });
    expect(legacy.stages[0].$cursor.queryPlanner.winningPlan.inputStage.indexName).toBe('email_1');
    expect(legacy.stages[1]).toEqual({ $project: { _id: 1 } });

    const count = await db.command({
      explain: { count: 'orders', query: { group: 3 }, skip: 1 },
      verbosity: 'executionStats',
    });
    expect(count.queryPlanner.winningPlan).toMatchObject({ stage: 'COUNT', inputStage: { stage: 'COLLSCAN' } });
    expect(count.executionStats.executionStages).toMatchObject({ stage: 'COUNT', nCounted: 4, nSkipped: 1 });

    // What mongosh's db.coll.explain().distinct() sends; typed by the driver as the values, it is the explain document.
    const distinct = (await orders.distinct('group', { _id: 4 }, { explain: 'executionStats' })) as unknown as Document;
    expect(distinct.queryPlanner.winningPlan).toEqual({ stage: 'IDHACK' });
    expect(distinct.executionStats.nReturned).toBe(1);
  });

  it('explains update, delete and findAndModify without writing anything', async () => {
    const items = await setUp('items');
    const db = mongo.client().db('t_explain');
    const before = await items.find().toArray();

    const update = await db.command({
      explain: { update: 'items', updates: [{ q: { group: 2 }, u: { $set: { name: 'n6' } }, multi: true }] },
      verbosity: 'executionStats',
    });
    // group 2: _id 2, 6, 10, 14, 18; only _id 6 already has name n6.
    expect(update.executionStats.executionStages).toMatchObject({
      stage: 'UPDATE',
      nMatched: 5,
      nWouldModify: 4,
      nWouldUpsert: 0,
      inputStage: { stage: 'COLLSCAN' },
    });
    const upsert = await db.command({
      explain: { update: 'items', updates: [{ q: { _id: 100 }, u: { $set: { a: 1 } }, upsert: true }] },
      verbosity: 'executionStats',
    });
    expect(upsert.executionStats.executionStages).toMatchObject({
      stage: 'UPDATE',
      nMatched: 0,
      nWouldUpsert: 1,
      inputStage: { stage: 'IDHACK' },
    });

    const deleteMany = await db.command({
      explain: { delete: 'items', deletes: [{ q: { group: { $in: [0, 1] } }, limit: 0 }] },
      verbosity: 'executionStats',
    });
    expect(deleteMany.executionStats.executionStages).toMatchObject({ stage: 'DELETE', nWouldDelete: 10 });
    const deleteOne = await db.command({
      explain: { delete: 'items', deletes: [{ q: { email: 'u9@x.org' }, limit: 1 }] },
      verbosity: 'queryPlanner',
    });
    expect(deleteOne.queryPlanner.winningPlan).toMatchObject({
      stage: 'DELETE',
      inputStage: { stage: 'FETCH', inputStage: { stage: 'IXSCAN', indexName: 'email_1' } },
    });

    const findAndModify = await db.command({
      explain: { findAndModify: 'items', query: { group: 3 }, sort: { _id: -1 }, update: { $inc: { n: 1 } } },
      verbosity: 'executionStats',
    });
    expect(findAndModify.queryPlanner.winningPlan).toMatchObject({
      stage: 'UPDATE',
      inputStage: { stage: 'SORT', sortPattern: { _id: -1 } },
    });
    expect(findAndModify.executionStats.executionStages).toMatchObject({ nMatched: 1, nWouldModify: 1 });
    const removal = await db.command({
      explain: { findAndModify: 'items', query: { _id: 1 }, remove: true },
      verbosity: 'executionStats',
    });
    expect(removal.executionStats.executionStages).toMatchObject({
      stage: 'DELETE',
      nWouldDelete: 1,
      inputStage: { stage: 'IDHACK' },
    });

    expect(await items.find().toArray()).toEqual(before);

    const twoUpdates = [
      { q: {}, u: { $set: { a: 1 } } },
      { q: {}, u: { $set: { b: 1 } } },
    ];
    expect((await failure(db.command({ explain: { update: 'items', updates: twoUpdates } }))).code).toBe(16);
    expect((await failure(db.command({ explain: { find: 'items' }, verbosity: 'loud' }))).code).toBe(9);
    expect((await failure(db.command({ explain: { insert: 'items', documents: [{}] } }))).message).toBe(
      'Cannot explain cmd: insert',
    );
  });
});

describe('renameCollection', () => {
  it('moves documents and indexes (unique ones still enforced), with mongod’s errors and dropTarget', async () => {
    const db = mongo.client().db('t_rename');
    await db.collection<Row>('before').insertMany([
      { _id: 1, slug: 'a' },
      { _id: 2, slug: 'b' },
    ]);
    await db.collection<Row>('before').createIndex({ slug: 1 }, { unique: true });
    await db.collection<Row>('taken').insertOne({ _id: 'taken' });

    const renamed = await db.collection<Row>('before').rename('after');
    expect(renamed.collectionName).toBe('after');
    expect(await db.collection<Row>('after').find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 1, slug: 'a' },
      { _id: 2, slug: 'b' },
    ]);
    expect((await db.collection<Row>('after').indexes()).map((index) => [index.name, index.unique ?? false])).toEqual([
      ['_id_', false],
      ['slug_1', true],
    ]);
    expect((await failure(db.collection<Row>('after').insertOne({ slug: 'a' }))).code).toBe(11000);
    expect((await db.listCollections({}, { nameOnly: true }).toArray()).map((info) => info.name).sort()).toEqual([
      'after',
      'taken',
    ]);
    expect(await db.collection<Row>('before').countDocuments()).toBe(0);
    // The unique index keeps working for changes after the move.
    await db.collection<Row>('after').updateOne({ _id: 2 }, { $set: { slug: 'c' } });
    await db.collection<Row>('after').insertOne({ _id: 3, slug: 'b' });

    const missing = await failure(db.collection<Row>('before').rename('other'));
    expect(missing).toMatchObject({ code: 26, codeName: 'NamespaceNotFound' });
    const exists = await failure(db.collection<Row>('after').rename('taken'));
    expect(exists).toMatchObject({ code: 48, codeName: 'NamespaceExists' });
    expect(await db.collection<Row>('after').countDocuments()).toBe(3);
    // By command: the driver's rename() rewrites any IllegalOperation (20) of a write into a retryable-writes message.
    const itself = await failure(
      mongo.client().db('admin').command({ renameCollection: 't_rename.after', to: 't_rename.after' }),
    );
    expect(itself).toMatchObject({ code: 20, message: "Can't rename a collection to itself" });

    await db.collection<Row>('after').rename('taken', { dropTarget: true });
    expect(
      await db
        .collection<Row>('taken')
        .find({}, { projection: { _id: 1 } })
        .sort({ _id: 1 })
        .toArray(),
    ).toEqual([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
    expect((await db.listCollections({}, { nameOnly: true }).toArray()).map((info) => info.name)).toEqual(['taken']);

    // Across databases, as mongod allows; only against admin.
    await mongo.client().db('admin').command({ renameCollection: 't_rename.taken', to: 't_rename_other.moved' });
    expect(await mongo.client().db('t_rename_other').collection<Row>('moved').countDocuments()).toBe(3);
    expect((await failure(db.command({ renameCollection: 't_rename_other.moved', to: 't_rename.back' }))).code).toBe(
      13,
    );
    expect(
      (await failure(mongo.client().db('admin').command({ renameCollection: 't_rename_other.moved', to: 'nodot' })))
        .code,
    ).toBe(73);
  });

  it('persists the rename across a restart', async () => {
    const dataFile = path.join(mongo.tmpDir(), 'rename.json');
    const first = await startMongoServer({ port: 0, silent: true, dataFile });
    const firstClient = new MongoClient(first.uri);
    try {
      const events = firstClient.db('t_rename_persist').collection<Row>('events');
      await events.createIndex({ key: 1 }, { unique: true });
      // Journaled: saved before the reply, so only the rename itself can make the file change again.
      await events.insertMany([{ key: 'x' }, { key: 'y' }], { writeConcern: { j: true } });
      await events.rename('archive');
    } finally {
      await firstClient.close();
      await first.close();
    }
    const second = await startMongoServer({ port: 0, silent: true, dataFile });
    const secondClient = new MongoClient(second.uri);
    try {
      const db = secondClient.db('t_rename_persist');
      expect((await db.listCollections({}, { nameOnly: true }).toArray()).map((info) => info.name)).toEqual([
        'archive',
      ]);
      expect(
        await db
          .collection<Row>('archive')
          .find({}, { projection: { _id: 0 } })
          .sort({ key: 1 })
          .toArray(),
      ).toEqual([{ key: 'x' }, { key: 'y' }]);
      expect((await db.collection<Row>('archive').indexes()).map((index) => index.name)).toEqual(['_id_', 'key_1']);
      expect((await failure(db.collection<Row>('archive').insertOne({ key: 'x' }))).code).toBe(11000);
    } finally {
      await secondClient.close();
      await second.close();
    }
  });
});

describe('serverStatus', () => {
  it('reports the process, its connections, and opcounters that count exactly what ran', async () => {
    const own = await startMongoServer({ port: 0, silent: true });
    // No heartbeat during the test: every command below is one the test sends.
    const ownClient = new MongoClient(own.uri, { heartbeatFrequencyMS: 600_000 });
    try {
      const admin = ownClient.db('admin');
      const first = await admin.command({ serverStatus: 1 });
      expect(first).toMatchObject({
        host: `${os.hostname()}:${own.port}`,
        version: '7.0.0',
        process: 'mongod',
        pid: process.pid,
        ok: 1,
      });
      expect(first.localTime).toBeInstanceOf(Date);
      expect(Math.abs((first.localTime as Date).getTime() - Date.now())).toBeLessThan(5000);
      expect(first.uptimeMillis).toBeGreaterThanOrEqual(0);
      expect(first.uptime).toBe(Math.floor(first.uptimeMillis / 1000));
      // The monitoring connection and the one running commands.
      expect(first.connections.current).toBe(2);
      expect(first.connections.available).toBe(1_000_000 - 2);
      expect(first.connections.totalCreated).toBe(2);

      const items = ownClient.db('t_status').collection<Row>('items');
      await items.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]); // insert +3
      await items.insertOne({ _id: 4 }); // insert +1
      await items.insertOne({ _id: 4 }).catch(() => undefined); // insert +1 (fails, was tried)
      await items.insertOne({ _id: 5 }); // insert +1
      await items.find({}, { batchSize: 2 }).toArray(); // query +1, getmore +2 (2 + 2 + 1)
      await items.findOne({ _id: 1 }); // query +1
      await items.updateMany({}, { $set: { seen: true } }); // update +1
      // update +2, delete +1
      await items.bulkWrite([
        { updateOne: { filter: { _id: 1 }, update: { $set: { a: 1 } } } },
        { deleteOne: { filter: { _id: 2 } } },
        { updateOne: { filter: { _id: 3 }, update: { $set: { a: 3 } } } },
      ]);
      await items.deleteMany({ _id: { $gt: 4 } }); // delete +1
      await items.countDocuments(); // command +1 (an aggregate)
      await items.find({ _id: 3 }).explain('queryPlanner'); // command +1: explain runs nothing it counts
      const second = await admin.command({ serverStatus: 1 }); // command +1 (counted before it answers)

      const delta = Object.fromEntries(
        Object.keys(second.opcounters).map((counter) => [
          counter,
          second.opcounters[counter] - first.opcounters[counter],
        ]),
      );
      expect(delta).toEqual({ insert: 6, query: 2, update: 3, delete: 2, getmore: 2, command: 3 });
      expect(second.uptimeMillis).toBeGreaterThanOrEqual(first.uptimeMillis);

      const otherClient = new MongoClient(own.uri, { heartbeatFrequencyMS: 600_000 });
      try {
        await otherClient.db('admin').command({ ping: 1 });
        const third = await admin.command({ serverStatus: 1 });
        expect(third.connections).toMatchObject({ current: 4, totalCreated: 4, available: 1_000_000 - 4 });
        // Each new connection's handshake hello is a command, as in mongod.
        expect(third.opcounters.command - second.opcounters.command).toBe(4);
      } finally {
        await otherClient.close();
      }
    } finally {
      await ownClient.close();
      await own.close();
    }
  });
});

describe('commands the local server does not implement', () => {
  it('says so clearly with mongod’s codes; unknown names are still "no such command"', async () => {
    const db = mongo.client().db('t_unsupported');
    await db.collection<Row>('c').insertOne({ a: 1 });
    for (const command of [{ validate: 'c' }, { hostInfo: 1 }, { usersInfo: 1 }, { currentOp: 1 }, { rolesInfo: 1 }]) {
      const error = await failure(db.command(command));
      expect(error).toMatchObject({ code: 59, codeName: 'CommandNotFound' });
      expect(error.message).toBe(
        `${Object.keys(command)[0]} is not supported by the cloud-parallel local MongoDB server (a test stand-in for mongod)`,
      );
    }
    // db.currentOp() in mongosh is an aggregation on admin.
    const currentOp = await failure(
      mongo
        .client()
        .db('admin')
        .aggregate([{ $currentOp: { allUsers: true } }])
        .toArray(),
    );
    expect(currentOp.code).toBe(40324);
    expect(currentOp.message).toContain(
      '$currentOp aggregation stage is not supported by the cloud-parallel local MongoDB server',
    );
    // rs.status(): what a standalone mongod answers.
    const replSet = await failure(mongo.client().db('admin').command({ replSetGetStatus: 1 }));
    expect(replSet).toMatchObject({ code: 76, codeName: 'NoReplicationEnabled' });
    expect(replSet.message).toContain('not running with --replSet');
    expect((await failure(db.command({ noSuchThing: 1 }))).message).toBe("no such command: 'noSuchThing'");
  });
});
