/**
 * The local MongoDB-compatible server (local-stack/mongo/) against the real `mongodb` driver with a
 * plain connection string, plus raw wire-protocol checks (framing) and the CLI as a child process.
 * Each test uses its own database so they stay independent.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { deserialize, serialize, type Document } from 'bson';
import { Long, MongoBulkWriteError, MongoClient, MongoServerError, ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../local-stack/mongo/server.ts';
import { useLocalMongo } from '../../support/scrape.ts';

const mongo = useLocalMongo('local_mongo');

describe('local MongoDB server with the real driver', () => {
  it('connects with a mongodb:// URI and answers ping and buildInfo', async () => {
    expect(mongo.server().uri).toBe(`mongodb://127.0.0.1:${mongo.server().port}`);
    expect(await mongo.client().db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    const info = await mongo.client().db('admin').command({ buildInfo: 1 });
    expect(info.version).toBe('7.0.0');
  });

  it('inserts and finds with filter, sort, limit and projection', async () => {
    const people = mongo.client().db('t_find').collection('people');
    const single = await people.insertOne({ name: 'zoe', age: 41, city: 'Oslo' });
    expect(single.insertedId).toBeInstanceOf(ObjectId);
    await people.insertMany([
      { name: 'ann', age: 30, city: 'Rome' },
      { name: 'bob', age: 25, city: 'Oslo' },
      { name: 'cid', age: 35, city: 'Oslo' },
    ]);
    const found = await people
      .find({ city: 'Oslo' }, { projection: { _id: 0, name: 1 } })
      .sort({ age: -1 })
      .limit(2)
      .toArray();
    expect(found).toEqual([{ name: 'zoe' }, { name: 'cid' }]);
    const byId = await people.findOne({ _id: single.insertedId });
    expect(byId?.name).toBe('zoe');
    expect(await people.findOne({ age: { $gt: 100 } })).toBeNull();
    const skipped = await people.find({}, { sort: { name: 1 }, skip: 1, projection: { name: 1, _id: 0 } }).toArray();
    expect(skipped.map((person) => person.name)).toEqual(['bob', 'cid', 'zoe']);
  });

  it('pages through more documents than one batch with getMore', async () => {
    const numbers = mongo.client().db('t_getmore').collection<{ _id: number; square: number }>('numbers');
    await numbers.insertMany(Array.from({ length: 250 }, (_, i) => ({ _id: i, square: i * i })));
    const all = await numbers.find({}, { batchSize: 100 }).sort({ _id: 1 }).toArray();
    expect(all).toHaveLength(250);
    expect(all[249]).toEqual({ _id: 249, square: 249 * 249 });
    expect(all.every((doc, i) => doc._id === i)).toBe(true);

    // The same protocol by hand: firstBatch, getMore with nextBatch, killCursors, then the id is gone.
    const db = mongo.client().db('t_getmore');
    const asLongs = { promoteLongs: false }; // cursor ids stay Long, as the server sends them
    const opened = await db.command({ find: 'numbers', filter: { square: { $gte: 10_000 } }, batchSize: 10 }, asLongs);
    expect(opened.cursor.firstBatch.map((doc: { _id: number }) => doc._id)).toEqual(
      Array.from({ length: 10 }, (_, i) => 100 + i),
    );
    const id = opened.cursor.id as Long;
    expect(Long.isLong(id) && !id.isZero()).toBe(true);
    expect(opened.cursor.ns).toBe('t_getmore.numbers');
    const more = await db.command({ getMore: id, collection: 'numbers', batchSize: 5 }, asLongs);
    expect(more.cursor.nextBatch.map((doc: { _id: number }) => doc._id)).toEqual([110, 111, 112, 113, 114]);
    const killed = await db.command({ killCursors: 'numbers', cursors: [id] }, asLongs);
    expect(killed.cursorsKilled.map(String)).toEqual([id.toString()]);
    const gone = await db.command({ getMore: id, collection: 'numbers' }).catch((error: unknown) => error);
    expect((gone as MongoServerError).code).toBe(43);

    // A getMore that drains the cursor answers id 0.
    const small = await db.command({ find: 'numbers', filter: { _id: { $lt: 15 } }, batchSize: 10 }, asLongs);
    const rest = await db.command({ getMore: small.cursor.id as Long, collection: 'numbers' }, asLongs);
    expect(rest.cursor.nextBatch).toHaveLength(5);
    expect((rest.cursor.id as Long).isZero()).toBe(true);
  });

  it('upserts with updateOne and counts only real modifications', async () => {
    const settings = mongo.client().db('t_upsert').collection('settings');
    const first = await settings.updateOne({ key: 'theme' }, { $set: { value: 'dark' } }, { upsert: true });
    expect(first).toMatchObject({ matchedCount: 0, modifiedCount: 0, upsertedCount: 1 });
    expect(first.upsertedId).toBeInstanceOf(ObjectId);
    const again = await settings.updateOne({ key: 'theme' }, { $set: { value: 'dark' } }, { upsert: true });
    expect(again).toMatchObject({ matchedCount: 1, modifiedCount: 0, upsertedCount: 0 });
    const changed = await settings.updateOne({ key: 'theme' }, { $set: { value: 'light' } });
    expect(changed).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    // The upserted document is made from the filter's equality plus the update.
    expect(await settings.findOne({}, { projection: { _id: 0 } })).toEqual({ key: 'theme', value: 'light' });
    const many = await settings.updateMany({}, { $inc: { version: 1 } });
    expect(many).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
  });

  it('upserts keyed on _id take the _id from the filter, with operator and pipeline updates', async () => {
    const items = mongo.client().db('t_upsert_id').collection<{ _id: string; n?: number; tag?: string }>('items');
    const first = await items.updateOne({ _id: 'yelp:abc' }, { $set: { n: 1 } }, { upsert: true });
    expect(first).toMatchObject({ upsertedCount: 1, upsertedId: 'yelp:abc' });
    const again = await items.updateOne({ _id: 'yelp:abc' }, { $set: { n: 1 } }, { upsert: true });
    expect(again).toMatchObject({ matchedCount: 1, modifiedCount: 0, upsertedCount: 0 });
    const piped = await items.updateOne({ _id: 'hn:7' }, [{ $set: { tag: { $literal: '$$' } } }], { upsert: true });
    expect(piped).toMatchObject({ upsertedCount: 1, upsertedId: 'hn:7' });
    expect(await items.find({}).sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'hn:7', tag: '$$' },
      { _id: 'yelp:abc', n: 1 },
    ]);
  });

  it('bulkWrite upserts are idempotent and modifiedCount counts changed documents only', async () => {
    const rates = mongo.client().db('t_bulk').collection('rates');
    const upserts = (valueAt: (i: number) => number) =>
      Array.from({ length: 80 }, (_, i) => ({
        updateOne: {
          filter: { day: `d${i}` },
          update: { $set: { value: valueAt(i) }, $setOnInsert: { created: 'first' } },
          upsert: true,
        },
      }));
    const first = await rates.bulkWrite(
      upserts((i) => i),
      { ordered: false },
    );
    expect(first).toMatchObject({ upsertedCount: 80, matchedCount: 0, modifiedCount: 0 });
    expect(await rates.countDocuments()).toBe(80);

    const second = await rates.bulkWrite(
      upserts((i) => i),
      { ordered: false },
    );
    expect(second).toMatchObject({ upsertedCount: 0, matchedCount: 80, modifiedCount: 0 });
    expect(await rates.countDocuments()).toBe(80);

    // Every 4th value changes: 20 of 80.
    const third = await rates.bulkWrite(
      upserts((i) => (i % 4 === 0 ? i + 1000 : i)),
      { ordered: false },
    );
    expect(third).toMatchObject({ upsertedCount: 0, matchedCount: 80, modifiedCount: 20 });
    expect(await rates.findOne({ day: 'd8' }, { projection: { _id: 0 } })).toEqual({
      day: 'd8',
      value: 1008,
      created: 'first',
    });
  });

  it('enforces unique indexes: E11000, ordered and unordered insertMany', async () => {
    const users = mongo.client().db('t_unique').collection('users');
    expect(await users.createIndex({ email: 1 }, { unique: true })).toBe('email_1');
    await users.insertOne({ email: 'a@x.org' });

    const duplicate = await users.insertOne({ email: 'a@x.org' }).catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(MongoServerError);
    expect((duplicate as MongoServerError).code).toBe(11000);
    expect((duplicate as MongoServerError).message).toContain('index: email_1 dup key: { email: "a@x.org" }');

    const batch = [{ email: 'b@x.org' }, { email: 'a@x.org' }, { email: 'c@x.org' }];
    const ordered = await users
      .insertMany(
        batch.map((doc) => ({ ...doc })),
        { ordered: true },
      )
      .catch((error: unknown) => error);
    expect(ordered).toBeInstanceOf(MongoBulkWriteError);
    expect((ordered as MongoBulkWriteError).code).toBe(11000);
    expect((ordered as MongoBulkWriteError).insertedCount).toBe(1); // b, then stopped at a
    expect(await users.countDocuments()).toBe(2);

    await users.deleteOne({ email: 'b@x.org' });
    const unordered = await users
      .insertMany(
        batch.map((doc) => ({ ...doc })),
        { ordered: false },
      )
      .catch((error: unknown) => error);
    expect((unordered as MongoBulkWriteError).insertedCount).toBe(2); // b and c, a skipped
    expect((await users.distinct('email')).sort()).toEqual(['a@x.org', 'b@x.org', 'c@x.org']);

    // An update that would create a duplicate fails and leaves the document as it was.
    const clash = await users
      .updateOne({ email: 'c@x.org' }, { $set: { email: 'a@x.org' } })
      .catch((error: unknown) => error);
    expect((clash as MongoServerError).code).toBe(11000);
    expect(await users.countDocuments({ email: 'c@x.org' })).toBe(1);
    // A successful change moves the index entry: the old value is free again, the new one is taken.
    expect(await users.updateOne({ email: 'c@x.org' }, { $set: { email: 'c2@x.org' } })).toMatchObject({
      matchedCount: 1,
      modifiedCount: 1,
    });
    expect(await users.countDocuments({ email: 'c@x.org' })).toBe(0);
    expect(await users.countDocuments({ email: { $eq: 'c2@x.org' } })).toBe(1);
    await users.insertOne({ email: 'c@x.org' });
    expect(
      (await users.insertOne({ email: 'c2@x.org' }).catch((error: unknown) => error)) as MongoServerError,
    ).toMatchObject({ code: 11000 });

    // _id is always unique.
    const id = new ObjectId();
    await users.insertOne({ _id: id, email: 'd@x.org' });
    const sameId = await users.insertOne({ _id: id, email: 'e@x.org' }).catch((error: unknown) => error);
    expect((sameId as MongoServerError).code).toBe(11000);
  });

  it('counts, deletes and returns distinct values', async () => {
    const items = mongo.client().db('t_count').collection('items');
    await items.insertMany(
      Array.from({ length: 30 }, (_, i) => ({
        n: i,
        parity: i % 2 === 0 ? 'even' : 'odd',
        tags: i % 3 === 0 ? ['x', 'y'] : ['z'],
      })),
    );
    expect(await items.countDocuments({ parity: 'even', n: { $gte: 10 } })).toBe(10); // 10,12,…,28
    expect(await items.countDocuments({}, { limit: 5 })).toBe(5);
    expect(await items.estimatedDocumentCount()).toBe(30);
    expect((await items.distinct('tags')).sort()).toEqual(['x', 'y', 'z']);
    expect((await items.distinct('n', { n: { $lt: 3 } })).sort()).toEqual([0, 1, 2]);

    const deleted = await items.deleteMany({ n: { $lt: 10 } });
    expect(deleted.deletedCount).toBe(10);
    expect((await items.deleteOne({ parity: 'odd' })).deletedCount).toBe(1);
    expect(await items.countDocuments()).toBe(19);

    const grouped = await items
      .aggregate<{ _id: string; total: number }>([
        { $group: { _id: '$parity', total: { $sum: '$n' } } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    // even: 10+12+…+28 = 190; odd: 13+15+…+29 = 189 (11 was deleted by deleteOne)
    expect(grouped).toEqual([
      { _id: 'even', total: 190 },
      { _id: 'odd', total: 189 },
    ]);
    const [counted] = await items
      .aggregate<{ howMany: number }>([{ $match: { parity: 'odd' } }, { $count: 'howMany' }])
      .toArray();
    expect(counted?.howMany).toBe(9);
  });

  it('findOneAndUpdate upserts and returns the document after the update', async () => {
    const counters = mongo
      .client()
      .db('t_fam')
      .collection<{ name: string; seq: number; created?: boolean }>('counters');
    const created = await counters.findOneAndUpdate(
      { name: 'jobs' },
      { $inc: { seq: 1 }, $setOnInsert: { created: true } },
      { upsert: true, returnDocument: 'after', projection: { _id: 0 } },
    );
    expect(created).toEqual({ name: 'jobs', seq: 1, created: true });
    const next = await counters.findOneAndUpdate(
      { name: 'jobs' },
      { $inc: { seq: 1 } },
      { upsert: true, returnDocument: 'after' },
    );
    expect(next?.seq).toBe(2);
    const before = await counters.findOneAndUpdate(
      { name: 'jobs' },
      { $inc: { seq: 10 } },
      { returnDocument: 'before' },
    );
    expect(before?.seq).toBe(2);
    expect(await counters.findOneAndUpdate({ name: 'nothing' }, { $inc: { seq: 1 } })).toBeNull();
    const removed = await counters.findOneAndDelete({ name: 'jobs' });
    expect(removed?.seq).toBe(12);
    expect(await counters.countDocuments()).toBe(0);
  });

  it('lists collections and indexes, drops indexes, collections and databases', async () => {
    const db = mongo.client().db('t_admin');
    await db.collection('alpha').insertOne({ a: 1 });
    await db.createCollection('beta');
    await db.collection('alpha').createIndex({ a: 1, b: -1 });
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((info) => info.name).sort();
    expect(names).toEqual(['alpha', 'beta']);
    expect(await db.listCollections({ name: 'beta' }).toArray()).toHaveLength(1);
    const indexes = await db.collection('alpha').listIndexes().toArray();
    expect(indexes.map((index) => index.name)).toEqual(['_id_', 'a_1_b_-1']);
    expect(indexes[1]?.key).toEqual({ a: 1, b: -1 });
    await db.collection('alpha').dropIndex('a_1_b_-1');
    expect((await db.collection('alpha').indexes()).map((index) => index.name)).toEqual(['_id_']);

    const createAgain = await db.createCollection('beta').catch((error: unknown) => error);
    expect((createAgain as MongoServerError).code).toBe(48);
    expect(await db.collection('beta').drop()).toBe(true);
    expect((await db.listCollections().toArray()).map((info) => info.name)).toEqual(['alpha']);

    const before = (await mongo.client().db('admin').admin().listDatabases()).databases.map((info) => info.name);
    expect(before).toContain('t_admin');
    expect(await db.dropDatabase()).toBe(true);
    const after = (await mongo.client().db('admin').admin().listDatabases()).databases.map((info) => info.name);
    expect(after).not.toContain('t_admin');
    expect(await db.collection('alpha').countDocuments()).toBe(0);
  });

  it('answers an unknown command with CommandNotFound (59)', async () => {
    const error = await mongo
      .client()
      .db('t_unknown')
      .command({ nope: 1 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MongoServerError);
    expect((error as MongoServerError).code).toBe(59);
    expect((error as MongoServerError).message).toBe("no such command: 'nope'");
  });

  it('applies operator, replacement and pipeline updates the MongoDB way', async () => {
    const docs = mongo.client().db('t_updates').collection<{
      _id: number;
      list?: number[];
      nested?: { a: number; b?: number };
      more?: string[];
      replaced?: boolean;
      flag?: boolean;
    }>('docs');
    await docs.insertOne({ _id: 1, list: [1, 2, 3], nested: { a: 1 } });
    await docs.updateOne({ _id: 1, list: 2 }, { $set: { 'list.$': 20, 'nested.b': 2 }, $push: { more: 'x' } });
    expect(await docs.findOne({ _id: 1 })).toEqual({ _id: 1, list: [1, 20, 3], nested: { a: 1, b: 2 }, more: ['x'] });

    await docs.replaceOne({ _id: 1 }, { replaced: true });
    expect(await docs.findOne({ _id: 1 })).toEqual({ _id: 1, replaced: true });

    await docs.updateOne({ _id: 1 }, [{ $set: { flag: { $not: '$replaced' } } }]);
    expect(await docs.findOne({ _id: 1 })).toEqual({ _id: 1, replaced: true, flag: false });

    const idChange = await docs.updateOne({ _id: 1 }, { $set: { _id: 2 } }).catch((error: unknown) => error);
    expect((idChange as MongoServerError).code).toBe(66);
  });
});

describe('persistence', () => {
  it('keeps databases, ObjectIds, Dates, Longs and unique indexes across restarts', async () => {
    const dataFile = path.join(mongo.tmpDir(), 'nested', 'mongo.json');
    const id = new ObjectId();
    const at = new Date('2024-02-29T12:34:56.789Z');
    const big = Long.fromString('9007199254740993'); // not representable as a JS number

    const first = await startMongoServer({ port: 0, silent: true, dataFile });
    const firstClient = new MongoClient(first.uri);
    try {
      const events = firstClient.db('t_persist').collection('events');
      await events.createIndex({ slug: 1 }, { unique: true });
      await events.insertOne({ _id: id, slug: 'leap', at, big, ratio: 0.25 });
    } finally {
      await firstClient.close();
      await first.close();
    }
    const saved = readFileSync(dataFile, 'utf8');
    expect(saved).toContain(`{"$oid":"${id.toHexString()}"}`);
    expect(saved).toContain('"$numberLong":"9007199254740993"');

    const second = await startMongoServer({ port: 0, silent: true, dataFile });
    const secondClient = new MongoClient(second.uri);
    try {
      const events = secondClient.db('t_persist').collection('events');
      const doc = await events.findOne({ _id: id }, { promoteLongs: false });
      expect(doc?._id).toBeInstanceOf(ObjectId);
      expect(doc?._id.equals(id)).toBe(true);
      expect(doc?.at).toBeInstanceOf(Date);
      expect((doc?.at as Date | undefined)?.toISOString()).toBe(at.toISOString());
      expect(String(doc?.big)).toBe('9007199254740993');
      expect(doc?.ratio).toBe(0.25);
      const duplicate = await events.insertOne({ slug: 'leap' }).catch((error: unknown) => error);
      expect((duplicate as MongoServerError).code).toBe(11000);
    } finally {
      await secondClient.close();
      await second.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Raw wire protocol
// ---------------------------------------------------------------------------------------------------------

const OP_MSG = 2013;

function opMsg(requestId: number, body: Document, flags = 0): Buffer {
  const bson = serialize(body);
  const head = Buffer.alloc(21);
  head.writeInt32LE(21 + bson.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(0, 8);
  head.writeInt32LE(OP_MSG, 12);
  head.writeUInt32LE(flags, 16);
  head.writeUInt8(0, 20);
  return Buffer.concat([head, bson]);
}

interface RawReply {
  responseTo: number;
  opCode: number;
  body: Document;
}

/** Collects `count` whole replies from `socket`. */
function readReplies(socket: net.Socket, count: number): Promise<RawReply[]> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const replies: RawReply[] = [];
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const length = buffered.readInt32LE(0);
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        replies.push({
          responseTo: message.readInt32LE(8),
          opCode: message.readInt32LE(12),
          body: deserialize(message.subarray(21)),
        });
      }
      if (replies.length >= count) {
        socket.off('data', onData);
        resolve(replies);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

async function rawConnection(): Promise<net.Socket> {
  const socket = net.connect(mongo.server().port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

describe('wire protocol framing', () => {
  it('reassembles a message split across TCP writes', async () => {
    const socket = await rawConnection();
    try {
      const message = opMsg(41, { ping: 1, $db: 'admin' });
      const replies = readReplies(socket, 1);
      socket.write(message.subarray(0, 10));
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.write(message.subarray(10));
      const [reply] = await replies;
      expect(reply).toMatchObject({ responseTo: 41, opCode: OP_MSG, body: { ok: 1 } });
    } finally {
      socket.destroy();
    }
  });

  it('answers each of several messages in one write, and none flagged moreToCome', async () => {
    const socket = await rawConnection();
    try {
      const replies = readReplies(socket, 2);
      const moreToCome = 1 << 1;
      socket.write(
        Buffer.concat([
          opMsg(7, { ping: 1, $db: 'admin' }),
          opMsg(8, { endSessions: [], $db: 'admin' }, moreToCome),
          opMsg(9, { nope: 1, $db: 'admin' }),
        ]),
      );
      const [first, second] = await replies;
      expect(first).toMatchObject({ responseTo: 7, body: { ok: 1 } });
      // Replies come in request order, so the next one being 9's proves 8 got none.
      expect(second).toMatchObject({ responseTo: 9, body: { ok: 0, code: 59, codeName: 'CommandNotFound' } });
    } finally {
      socket.destroy();
    }
  });
});

describe('CLI', () => {
  it('prints its URI as one JSON line, serves the driver and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local-stack/mongo/main.ts', '--port', '0', '--silent'], {
      cwd: path.resolve(import.meta.dirname, '../../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const lines = createInterface({ input: child.stdout });
      const firstLine = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`CLI exited with ${code} before printing its URI`)));
      });
      const ready = JSON.parse(firstLine) as { uri: string; port: number };
      expect(ready.port).toBeGreaterThan(0);
      expect(ready.uri).toBe(`mongodb://127.0.0.1:${ready.port}`);

      const cliClient = new MongoClient(ready.uri);
      try {
        await cliClient.db('t_cli').collection('c').insertOne({ hello: 'cli' });
        expect(
          await cliClient
            .db('t_cli')
            .collection('c')
            .findOne({}, { projection: { _id: 0 } }),
        ).toEqual({ hello: 'cli' });
      } finally {
        await cliClient.close();
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
