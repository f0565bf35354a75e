/**
 * The scraper's MongoDB going away mid-run: a real scrape (the real driver, the API fixture with latency so the
 * run lasts seconds) against the local MongoDB server running as a child process, which is killed (SIGTERM as
 * in maintenance or a failover, SIGKILL as in a crash) while batches are being written and restarted on the
 * same port with the same data file. Buffered writes are retried, nothing is lost, nothing is duplicated; an
 * outage longer than the retry budget is reported record by record and a re-run completes it. And the
 * server's side of it: a journaled write it acknowledged survives SIGKILL, a w:1 write within the save delay
 * does not.
 */
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deserialize, serialize, type Document } from 'bson';
import { MongoClient, type Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import {
  createScrapeStore,
  runScrape,
  type ScrapeDeps,
  type ScrapeDocument,
  type ScrapeProgress,
  type ScrapeResult,
} from '../../../lib/scrape/index.ts';
import { yelpBusinessSchema } from '../../../lib/scrape/yelp.ts';
import type { RunningApiFixture } from '../../../local-stack/api-fixture/index.ts';
import { startMongoServer } from '../../../local-stack/mongo/server.ts';
import { FAST_POOL, withFixture } from '../../support/scrape.ts';
import { spawnMongoServerProcess, type ChildServer } from '../../../local-stack/shared/child-server.ts';
import { useTempDir } from '../../support/temp-dir.ts';

const CITIES = ['San Francisco, CA', 'New York, NY', 'Chicago, IL', 'Austin, TX'];
/** 4 searches + 80 details at 4 at a time and 150 ms each: a run of about 3 s. */
const INPUT = { source: 'yelp', cities: CITIES, limit: 20, concurrency: 4 } as const;
const LATENCY_MS = 150;
/** Small batches, so several are written before, during and after the outage. */
const WRITE = { maxDocs: 5, maxWaitMs: 100 };
/**
 * The server saves its data file this long after a write that did not ask for the journal: far longer than a
 * test, so whatever survives a SIGKILL here was saved because a journaled write waited for it.
 */
const NEVER_MS = 600_000;

const tmp = useTempDir('cp-fault-scrape-');

/** An OP_MSG with one body section. */
function opMsg(requestId: number, body: Document): Buffer {
  const bson = serialize(body);
  const head = Buffer.alloc(21);
  head.writeInt32LE(21 + bson.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(2013, 12);
  return Buffer.concat([head, bson]);
}

/** The local MongoDB server as its own process (as the stack runs it), restartable on the same port and file. */
class MongoProcess {
  private child: ChildServer<unknown> | undefined;
  private constructor(
    readonly port: number,
    readonly dataFile: string,
    private readonly flushDelayMs: number,
  ) {}

  /**
   * Fixed ports below the ephemeral range (32768+): the server comes back on the same port after a kill, and in
   * between any client socket could take a port from that range as its local port.
   */
  private static nextPort = 26100;

  static async start(name: string, flushDelayMs = NEVER_MS): Promise<MongoProcess> {
    const server = new MongoProcess(MongoProcess.nextPort++, path.join(tmp(), name, 'data.json'), flushDelayMs);
    await server.restart();
    return server;
  }

  get uri(): string {
    return `mongodb://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    this.child = await spawnMongoServerProcess({
      port: this.port,
      dataFile: this.dataFile,
      flushDelayMs: this.flushDelayMs,
    });
  }

  /** Sends `signal` and waits until the process is gone (its port is free again). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    await this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    await this.child?.close();
  }
}

/**
 * A TCP proxy in front of a MongoDB server that, when told to, lets the next `update` command through and then
 * hangs up instead of passing its reply on: the write happened, the client never hears of it.
 */
async function startReplyDroppingProxy(
  targetPort: number,
): Promise<{ uri: string; dropNextUpdateReply(): void; dropped(): number; close(): Promise<void> }> {
  const updateCommand = Buffer.from('\x02update\x00', 'latin1'); // a body whose key is `update` (a string)
  let armed = false;
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    let dropReply = false;
    const hangUp = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', hangUp).on('close', hangUp);
    }
    client.on('data', (chunk: Buffer) => {
      if (armed && chunk.includes(updateCommand)) {
        armed = false;
        dropReply = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!dropReply) return void client.write(chunk);
      dropped++;
      hangUp();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    uri: `mongodb://127.0.0.1:${(server.address() as net.AddressInfo).port}/?directConnection=true`,
    dropNextUpdateReply: () => {
      armed = true;
    },
    dropped: () => dropped,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function depsFor(fixture: RunningApiFixture, db: Db, extra: Partial<ScrapeDeps> = {}): ScrapeDeps {
  return {
    store: createScrapeStore(db, { collection: 'businesses' }),
    yelpBaseUrl: fixture.yelpBaseUrl,
    yelpApiKey: fixture.apiKey,
    pool: FAST_POOL,
    write: WRITE,
    ...extra,
  };
}

/**
 * Runs the scrape; once `killAfterWritten` records are written, kills the server with `signal`, and restarts it
 * after `downMs` (or, with `downMs: 'after-run'`, once the run has returned).
 */
async function scrapeThroughOutage(
  fixture: RunningApiFixture,
  mongo: MongoProcess,
  db: Db,
  outage: { signal: NodeJS.Signals; killAfterWritten: number; downMs: number | 'after-run' },
  extra: Partial<ScrapeDeps> = {},
): Promise<{ result: ScrapeResult; fetchedWhileDown: number; writtenAtKill: number }> {
  let details = 0;
  let written = 0;
  let outageDone: Promise<{ fetchedWhileDown: number; writtenAtKill: number }> | undefined;
  const onProgress = (event: ScrapeProgress): void => {
    if (event.phase === 'details') details = event.done;
    if (event.phase !== 'write') return;
    written = event.done;
    if (outageDone !== undefined || written < outage.killAfterWritten) return;
    outageDone = (async () => {
      const writtenAtKill = written;
      const detailsAtKill = details;
      await mongo.kill(outage.signal);
      if (outage.downMs === 'after-run') return { fetchedWhileDown: 80 - detailsAtKill, writtenAtKill };
      await sleep(outage.downMs);
      const fetchedWhileDown = details - detailsAtKill;
      await mongo.restart();
      return { fetchedWhileDown, writtenAtKill };
    })();
  };
  const result = await runScrape(INPUT, depsFor(fixture, db, { onProgress, ...extra }));
  expect(outageDone, 'the server was killed during the run').toBeDefined();
  return { result, ...(await outageDone!) };
}

/** Exactly one document per business, each holding what the API serves for it. */
async function expectEveryBusinessOnce(fixture: RunningApiFixture, db: Db, ids?: readonly string[]): Promise<void> {
  const documents = await db.collection<ScrapeDocument>('businesses').find().toArray();
  expect(documents).toHaveLength(80);
  expect(new Set(documents.map((document) => document._id)).size).toBe(80);
  const bySourceId = await db
    .collection('businesses')
    .aggregate<{ _id: { source: string; sourceId: string }; n: number }>([
      { $group: { _id: { source: '$source', sourceId: '$sourceId' }, n: { $sum: 1 } } },
    ])
    .toArray();
  expect(bySourceId).toHaveLength(80);
  expect(bySourceId.every((group) => group.n === 1)).toBe(true);
  if (ids) expect(documents.map((document) => document.sourceId).sort()).toEqual([...ids].sort());
  fixture.setLatency(0);
  await Promise.all(
    documents.map(async (document) => {
      expect(document._id).toBe(`yelp:${document.sourceId}`);
      expect(document.source).toBe('yelp');
      const response = await fetch(`${fixture.yelpBaseUrl}/businesses/${encodeURIComponent(document.sourceId)}`, {
        headers: { authorization: `Bearer ${fixture.apiKey}` },
      });
      expect(document.data).toEqual(yelpBusinessSchema.parse(await response.json()));
      expect(document.firstSeenAt).toBeInstanceOf(Date);
      expect(document.updatedAt).toEqual(document.firstSeenAt);
    }),
  );
}

describe('the scraper through a MongoDB outage', () => {
  it.each(['SIGTERM', 'SIGKILL'] as const)(
    'a 1.5 s outage mid-run (%s): the buffered batches are retried, all 80 businesses stored once, none failed',
    async (signal) => {
      const mongo = await MongoProcess.start(`outage-${signal}`);
      const client = await new MongoClient(mongo.uri).connect();
      try {
        await withFixture({ latencyMs: LATENCY_MS }, async (fixture) => {
          const db = client.db('fault');
          const { result, fetchedWhileDown, writtenAtKill } = await scrapeThroughOutage(fixture, mongo, db, {
            signal,
            killAfterWritten: 15,
            downMs: 1500,
          });
          // The kill came mid-run: some batches had been written, and records kept coming while it was down.
          expect(writtenAtKill).toBeLessThan(40);
          expect(fetchedWhileDown).toBeGreaterThan(WRITE.maxDocs);
          expect(result).toMatchObject({ fetched: 80, failed: [], left: [], modified: 0 });
          // A batch that landed before the connection broke comes back from its retry as unchanged.
          expect(result.upserted + result.unchanged).toBe(80);
          await expectEveryBusinessOnce(fixture, db);

          // Every acknowledged write was journaled: killing the server now loses none of them.
          await mongo.kill('SIGKILL');
          await mongo.restart();
          expect(await db.collection('businesses').countDocuments()).toBe(80);
        });
      } finally {
        await client.close();
        await mongo.stop();
      }
    },
    60_000,
  );

  it('an outage longer than the retry budget: the unwritten records are in `failed`, never dropped, and a re-run writes them', async () => {
    const mongo = await MongoProcess.start('long-outage');
    const client = await new MongoClient(mongo.uri).connect();
    try {
      await withFixture({ latencyMs: LATENCY_MS }, async (fixture) => {
        const db = client.db('fault');
        const started = Date.now();
        const { result } = await scrapeThroughOutage(
          fixture,
          mongo,
          db,
          { signal: 'SIGKILL', killAfterWritten: 15, downMs: 'after-run' },
          { write: { ...WRITE, retryForMs: 1000 } },
        );
        // The budget bounds the run: 1 s of retries for the batch the outage hit, then one attempt (≤ 2 s) per
        // batch of what waited meanwhile, instead of 30 s per batch.
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(result).toMatchObject({ fetched: 80, left: [] });
        expect(result.failed.length).toBeGreaterThan(0);
        for (const failure of result.failed)
          expect(failure.reason).toMatch(
            /^write failed: .*the batch may or may not have been written — running the scrape again completes it\)$/,
          );
        // Every fetched record is accounted for exactly once: written, or failed.
        expect(result.upserted + result.unchanged + result.modified + result.failed.length).toBe(80);

        await mongo.restart();
        const failedIds = new Set(result.failed.map((failure) => failure.id));
        const stored = await db.collection<ScrapeDocument>('businesses').find().toArray();
        // Whatever the run counted as written is there after the SIGKILL (journaled writes); only failed ids may be missing.
        expect(stored.filter((document) => !failedIds.has(document.sourceId))).toHaveLength(80 - failedIds.size);
        const allIds = [...stored.map((document) => document.sourceId), ...failedIds];

        fixture.setLatency(0);
        const rerun = await runScrape(INPUT, depsFor(fixture, db));
        expect(rerun).toMatchObject({
          fetched: 80,
          failed: [],
          left: [],
          modified: 0,
          upserted: 80 - stored.length,
          unchanged: stored.length,
        });
        await expectEveryBusinessOnce(fixture, db, [...new Set(allIds)]);
      });
    } finally {
      await client.close();
      await mongo.stop();
    }
  }, 60_000);
});

describe('a lost acknowledgement', () => {
  it('a batch the server wrote but whose reply never arrived is retried and counted unchanged, never duplicated', async () => {
    const mongo = await startMongoServer({ port: 0, silent: true });
    const proxy = await startReplyDroppingProxy(mongo.port);
    const client = await new MongoClient(proxy.uri).connect();
    try {
      const db = client.db('lost_ack');
      const store = createScrapeStore(db, { collection: 'things' });
      await store.ensureIndexes();
      const writer = store.createWriter({
        maxDocs: 5,
        maxWaitMs: 1000,
        onFlush: ({ written }) => written === 5 && proxy.dropNextUpdateReply(),
      });
      for (let n = 1; n <= 20; n++) writer.add({ source: 'test', sourceId: String(n), data: { n } });
      const totals = await writer.close();
      expect(proxy.dropped()).toBe(1);
      // The second batch landed, its reply was cut off, the retry found its five documents already there.
      expect(totals).toEqual({ upserted: 15, modified: 0, unchanged: 5, failed: [] });
      expect(await db.collection('things').countDocuments()).toBe(20);
      expect((await db.collection('things').distinct('_id')).length).toBe(20);
    } finally {
      await client.close();
      await proxy.close();
      await mongo.close();
    }
  });
});

describe('local MongoDB durability', () => {
  it('an acknowledged j:true or w:"majority" write survives SIGKILL; a w:1 write within the save delay does not; SIGTERM saves everything', async () => {
    const mongo = await MongoProcess.start('durability');
    const client = await new MongoClient(mongo.uri).connect();
    try {
      const things = client.db('durable').collection<{ _id: string }>('things');
      await things.insertOne({ _id: 'journaled' }, { writeConcern: { j: true } });
      await things.insertOne({ _id: 'majority' }, { writeConcern: { w: 'majority' } });
      await things.insertOne({ _id: 'w1' }, { writeConcern: { w: 1 } });
      await mongo.kill('SIGKILL');
      await mongo.restart();
      expect((await things.find().toArray()).map((thing) => thing._id).sort()).toEqual(['journaled', 'majority']);

      // A journaled write saves what came before it, w:1 writes included (as mongod's journal commit does).
      await things.insertOne({ _id: 'w1-before' });
      await things.updateOne(
        { _id: 'journaled' },
        { $set: { again: true } },
        { writeConcern: { w: 'majority', j: true } },
      );
      await mongo.kill('SIGKILL');
      await mongo.restart();
      expect((await things.find().toArray()).map((thing) => thing._id).sort()).toEqual([
        'journaled',
        'majority',
        'w1-before',
      ]);

      await things.insertOne({ _id: 'w1-then-sigterm' });
      await mongo.kill('SIGTERM');
      await mongo.restart();
      expect(await things.countDocuments({ _id: 'w1-then-sigterm' })).toBe(1);
    } finally {
      await client.close();
      await mongo.stop();
    }
  });

  it('answers requests on one connection in order while a journaled write waits for its save', async () => {
    const mongo = await MongoProcess.start('ordering');
    const socket = net.connect(mongo.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const replies = new Promise<Array<{ responseTo: number; body: Document }>>((resolve) => {
        let buffered = Buffer.alloc(0);
        const collected: Array<{ responseTo: number; body: Document }> = [];
        socket.on('data', (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
            const message = buffered.subarray(0, buffered.readInt32LE(0));
            buffered = buffered.subarray(message.length);
            collected.push({ responseTo: message.readInt32LE(8), body: deserialize(message.subarray(21)) });
          }
          if (collected.length === 4) resolve(collected);
        });
      });
      const insert = (id: string, writeConcern: Document) => ({
        insert: 'things',
        documents: [{ _id: id }],
        writeConcern,
        $db: 'durable',
      });
      // Pipelined in one TCP write: a w:1 insert, a journaled one, then two that need no save.
      socket.write(
        Buffer.concat([
          opMsg(1, insert('a', { w: 1 })),
          opMsg(2, insert('b', { j: true })),
          opMsg(3, insert('c', { w: 1 })),
          opMsg(4, { ping: 1, $db: 'admin' }),
        ]),
      );
      const answered = await replies;
      expect(answered.map((reply) => reply.responseTo)).toEqual([1, 2, 3, 4]);
      expect(answered.map((reply) => reply.body.ok)).toEqual([1, 1, 1, 1]);
      // The journaled insert's save holds 'a' and 'b' (and 'c' when it arrived before the save began).
      await mongo.kill('SIGKILL');
      await mongo.restart();
      const client = await new MongoClient(mongo.uri).connect();
      try {
        expect(
          (await client.db('durable').collection<{ _id: string }>('things').find().toArray()).map((thing) => thing._id),
        ).toEqual(expect.arrayContaining(['a', 'b']));
      } finally {
        await client.close();
      }
    } finally {
      socket.destroy();
      await mongo.stop();
    }
  });
});
