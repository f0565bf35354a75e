/**
 * The local MongoDB server (local-stack/mongo/) against malformed input: hand-made bad frames, the three
 * defects of issue 12 (a document sequence of size −1, a reply too large to encode, a document too deep to save),
 * and a fuzz run that mutates frames recorded from the real `mongodb` driver.
 *
 * The server runs as its CLI in a child process, as `local start` runs it: a crash is an exit we can see and count,
 * a runaway loop cannot hang the test worker (the health checks time out instead), and a memory blow-up ends at
 * the child's heap limit.
 *
 * Fuzz knobs (environment): MONGO_FUZZ_FRAMES (default 50,000 frames), MONGO_FUZZ_SEED (default 12).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { EJSON, deserialize, serialize, type Document } from 'bson';
import { MongoBulkWriteError, MongoClient, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXED_VALUE_SIZES } from '../../../local-stack/mongo/protocol/bson-check.ts';
import { rng } from '../../support/random.ts';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../../..');
/** Data files of the servers under test. */
let scratchDir: string | undefined;
const scratch = { tmpDir: (): string => scratchDir! };
beforeAll(() => {
  scratchDir = mkdtempSync(path.join(os.tmpdir(), 'cp-mongo-fuzz-'));
});
afterAll(() => {
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
});

const FUZZ_FRAMES = Number(process.env.MONGO_FUZZ_FRAMES ?? 50_000);
const FUZZ_SEED = Number(process.env.MONGO_FUZZ_SEED ?? 12);
const OP_QUERY = 2004;
const OP_MSG = 2013;

// ---------------------------------------------------------------------------------------------------------
// The server as a child process
// ---------------------------------------------------------------------------------------------------------

interface ServerProcess {
  uri: string;
  port: number;
  child: ChildProcess;
  /** Resolves when the process ends, with how it ended. */
  exited: Promise<string>;
  /** Lines the server wrote to stderr (connections it closed, internal errors…), counted, not kept. */
  stderrLines(): number;
  /** One line of each kind (numbers aside, the first 80 characters), for the report. */
  stderrSamples(): string[];
  /** SIGTERM (the server saves its data file), then the exit code. */
  stop(): Promise<string>;
}

async function startServerProcess(dataFile: string): Promise<ServerProcess> {
  // A bounded heap: a parser that allocates without end dies here in seconds instead of swapping the machine.
  const child = spawn(
    process.execPath,
    [
      '--max-old-space-size=768',
      '--import',
      'tsx',
      'local-stack/mongo/main.ts',
      '--port',
      '0',
      '--data',
      dataFile,
      '--silent',
    ],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)),
  );
  let stderrLines = 0;
  let lastLines: string[] = [];
  const samples = new Map<string, string>();
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrLines += 1;
    lastLines = [...lastLines.slice(-29), line.slice(0, 500)];
    const kind = line.replace(/\d+/g, 'N').slice(0, 80);
    if (samples.size < 20 && !samples.has(kind)) samples.set(kind, line.slice(0, 300));
  });
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    // After a tick, so the stderr lines it wrote before exiting have been read.
    void exited.then((how) =>
      setImmediate(() =>
        reject(new Error(`the server ended (${how}) before printing its URI:\n${lastLines.join('\n')}`)),
      ),
    );
  });
  const { uri, port } = JSON.parse(firstLine) as { uri: string; port: number };
  return {
    uri,
    port,
    child,
    exited,
    stderrLines: () => stderrLines,
    stderrSamples: () => [...samples.values()],
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Kills what `stop` could not (a server stuck in a loop ignores SIGTERM's handler). */
async function kill(server: ServerProcess | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGKILL');
  await server.exited;
}

/** A fresh driver client: it must connect, answer a ping and a find within a few seconds. */
async function expectAnswers(
  uri: string,
  find: { db: string; collection: string; filter: Document } = { db: 'fuzz_check', collection: 'c', filter: {} },
): Promise<Document[]> {
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: 5000,
    socketTimeoutMS: 5000,
    connectTimeoutMS: 5000,
  });
  try {
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    return await client.db(find.db).collection(find.collection).find(find.filter).toArray();
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Raw frames
// ---------------------------------------------------------------------------------------------------------

function opMsg(requestId: number, sections: Buffer[], flags = 0): Buffer {
  const head = Buffer.alloc(20);
  const length = 20 + sections.reduce((sum, section) => sum + section.length, 0);
  head.writeInt32LE(length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(OP_MSG, 12);
  head.writeUInt32LE(flags, 16);
  return Buffer.concat([head, ...sections]);
}

const bodySection = (body: Document): Buffer => Buffer.concat([Buffer.from([0]), serialize(body)]);

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32LE(value);
  return buffer;
}

type RawOutcome = { reply: { responseTo: number; body: Document } } | { closed: true } | { silent: true };

/** Writes `bytes` on a new connection; the first whole reply, the connection closing, or silence after `quietMs`. */
async function sendRaw(port: number, bytes: Buffer, quietMs = 2000): Promise<RawOutcome> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    return await new Promise<RawOutcome>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
          const opCode = buffered.readInt32LE(12);
          const bodyAt = opCode === OP_MSG ? 21 : 36;
          resolve({
            reply: {
              responseTo: buffered.readInt32LE(8),
              body: deserialize(buffered.subarray(bodyAt, buffered.readInt32LE(0))),
            },
          });
        }
      });
      socket.once('close', () => resolve({ closed: true }));
      socket.once('error', (error: NodeJS.ErrnoException) =>
        error.code === 'ECONNRESET' ? resolve({ closed: true }) : reject(error),
      );
      socket.once('connect', () => socket.write(bytes));
      setTimeout(() => resolve({ silent: true }), quietMs);
    });
  } finally {
    socket.destroy();
  }
}

/** `{a: {a: … {x: 1}}}`, `levels` deep counting the outermost document. */
function nested(levels: number): Document {
  let document: Document = { x: 1 };
  for (let level = 1; level < levels; level += 1) document = { a: document };
  return document;
}

// ---------------------------------------------------------------------------------------------------------
// The defects of issue 12, one by one
// ---------------------------------------------------------------------------------------------------------

describe('defects reproduced on the old server', () => {
  it('a 27-byte message with a document sequence of size -1 gets an error reply, and the server keeps serving', async () => {
    const server = await startServerProcess(path.join(scratch.tmpDir(), 'minus-one.json'));
    try {
      // header(16) flags(4) kind 1 (1) size −1 (4) identifier "a" (2): the old parser stepped back one byte per pass.
      const message = opMsg(7, [Buffer.from([1]), int32(-1), Buffer.from('a\0', 'latin1')]);
      expect(message.length).toBe(27);
      const outcome = await sendRaw(server.port, message);
      expect(outcome).toMatchObject({ reply: { responseTo: 7, body: { ok: 0, code: 17, codeName: 'ProtocolError' } } });
      await expectAnswers(server.uri);
      expect(await server.stop()).toBe('exit 0');
    } finally {
      await kill(server);
    }
  });

  it('60,000 duplicate-key errors with j:true: a bounded reply, every error counted, and the server stays up', {
    timeout: 120_000,
  }, async () => {
    const server = await startServerProcess(path.join(scratch.tmpDir(), 'write-errors.json'));
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      const keys = client.db('t_write_errors').collection<{ _id: string }>('keys');
      // ~200-byte keys: each E11000 entry (message, keyPattern, keyValue) is ~550 bytes, 60,000 of them ~33 MB.
      const documents = Array.from({ length: 60_000 }, (_, i) => ({
        _id: `${String(i).padStart(8, '0')}-${'k'.repeat(190)}`,
      }));
      await keys.insertMany(documents, { ordered: false });
      const failure = await keys
        .insertMany(documents, { ordered: false, writeConcern: { j: true } })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MongoBulkWriteError);
      const writeErrors = ([] as { code: number; index: number; errmsg?: string }[]).concat(
        (failure as MongoBulkWriteError).writeErrors as never,
      );
      expect(writeErrors).toHaveLength(60_000);
      expect(writeErrors.every((error, i) => error.code === 11000 && error.index === i)).toBe(true);
      // The first errors keep their messages; past the reply's budget only index and code are left.
      expect(writeErrors[0]?.errmsg).toMatch(/^E11000 duplicate key error collection: t_write_errors.keys index: _id_/);
      expect(writeErrors.at(-1)?.errmsg ?? '').toBe('');
      expect(server.child.exitCode).toBeNull();
      expect(await keys.countDocuments()).toBe(60_000);
      await expectAnswers(server.uri);
    } finally {
      await client.close();
      await kill(server);
    }
  });

  it('a document nested 2,000 deep is refused (code 15), and a normal write after it reaches the data file', async () => {
    const dataFile = path.join(scratch.tmpDir(), 'deep.json');
    let server: ServerProcess | undefined = await startServerProcess(dataFile);
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      const things = client.db('t_deep').collection('things');
      const tooDeep = await things
        .insertOne({ _id: 'deep', v: nested(2000) } as Document)
        .catch((error: unknown) => error);
      expect(tooDeep).toBeInstanceOf(MongoServerError);
      expect(tooDeep).toMatchObject({ code: 15, codeName: 'Overflow' });
      // Under the wire limit (200) but over the storage limit (100): refused as mongod refuses an insert.
      const overStorage = await things
        .insertOne({ _id: 'over', v: nested(101) } as Document)
        .catch((error: unknown) => error);
      expect(overStorage).toMatchObject({
        code: 15,
        message: 'cannot insert document because it exceeds 100 levels of nesting',
      });
      // An update cannot build one either, even from a long dotted path in a small message.
      await things.insertOne({ _id: 'grow', n: 1 } as Document);
      const deepPath = Array.from({ length: 150 }, () => 'a').join('.');
      const grown = await things
        .updateOne({ _id: 'grow' } as Document, { $set: { [deepPath]: 1 } })
        .catch((error: unknown) => error);
      expect(grown).toMatchObject({ code: 15, message: 'Document exceeds maximum nesting depth of 100' });
      // 100 levels, the documented limit, is fine.
      await things.insertOne({ _id: 'limit', v: nested(99) } as Document);

      await things.insertOne({ _id: 'after', ok: true } as Document, { writeConcern: { j: true } });
      const saved = EJSON.parse(readFileSync(dataFile, 'utf8'), { relaxed: false }) as {
        databases: Record<string, Record<string, { documents: Document[] }>>;
      };
      expect(saved.databases.t_deep?.things?.documents.map((document) => document._id)).toEqual([
        'grow',
        'limit',
        'after',
      ]);
      await client.close();
      expect(await server.stop()).toBe('exit 0');

      server = await startServerProcess(dataFile);
      expect(await expectAnswers(server.uri, { db: 't_deep', collection: 'things', filter: { _id: 'after' } })).toEqual(
        [{ _id: 'after', ok: true }],
      );
    } finally {
      await client.close();
      await kill(server);
    }
  });

  it('names and fields the data file could not load back are refused, so the file always reloads (found by the fuzz)', async () => {
    const dataFile = path.join(scratch.tmpDir(), 'unloadable.json');
    let server: ServerProcess | undefined = await startServerProcess(dataFile);
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      // A database name with a null byte (a BSON string may hold one) was a key of the data file EJSON refuses to parse.
      const badDb = await client
        .db('fuzz_\u0000x')
        .collection('c')
        .insertOne({ _id: 1 } as Document)
        .catch((error: unknown) => error);
      expect(badDb).toMatchObject({ code: 73, codeName: 'InvalidNamespace' });
      const badCollection = await client
        .db('t_names')
        .collection('a$b')
        .insertOne({ _id: 1 } as Document)
        .catch((error: unknown) => error);
      expect(badCollection).toMatchObject({ code: 73, codeName: 'InvalidNamespace' });
      const things = client.db('t_names').collection('things');
      // A field that Extended JSON reads back as a type ({$oid: 'nope'} would not even parse).
      const typeKey = await things
        .insertOne({ _id: 'oid', v: { $oid: 'nope' } } as Document)
        .catch((error: unknown) => error);
      expect(typeKey).toMatchObject({
        code: 52,
        message: expect.stringMatching(
          /^The dollar \(\$\) prefixed field '\$oid' in 'v\.\$oid' is not valid for storage/,
        ),
      });
      // An update can turn a string value into a field name: one with a null byte cannot be stored.
      await things.insertOne({ _id: 'r', n: 1 } as Document);
      const renamed = await things
        .updateOne({ _id: 'r' } as Document, { $rename: { n: 'a\u0000b' } })
        .catch((error: unknown) => error);
      expect(renamed).toMatchObject({ code: 2, message: "field names cannot contain null bytes: 'a\\0b'" });

      // A BSON date past what a JavaScript Date holds arrives as an invalid Date, which the file recorded as "NaN".
      const insert = Buffer.from(
        serialize({ insert: 'things', documents: [{ _id: 'date', at: new Date(1_234_567) }], $db: 't_names' }),
      );
      const at = insert.indexOf(Buffer.from(new BigInt64Array([1_234_567n]).buffer));
      insert.writeBigInt64LE(2n ** 62n, at);
      const reply = await sendRaw(server.port, opMsg(3, [Buffer.concat([Buffer.from([0]), insert])]));
      expect(reply).toMatchObject({
        reply: {
          body: {
            ok: 1,
            n: 0,
            writeErrors: [
              { index: 0, code: 2, errmsg: expect.stringMatching(/^the date in 'at' is outside the range/) },
            ],
          },
        },
      });

      await things.insertOne({ _id: 'after' } as Document, { writeConcern: { j: true } });
      await client.close();
      expect(await server.stop()).toBe('exit 0');
      server = await startServerProcess(dataFile);
      expect(await expectAnswers(server.uri, { db: 't_names', collection: 'things', filter: {} })).toEqual([
        { _id: 'r', n: 1 },
        { _id: 'after' },
      ]);
    } finally {
      await client.close();
      await kill(server);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Hand-made malformed frames
// ---------------------------------------------------------------------------------------------------------

describe('every length in a frame is checked against the frame', () => {
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    server = await startServerProcess(path.join(scratch.tmpDir(), 'frames.json'));
  });
  afterAll(async () => {
    await kill(server);
  });

  const ping = serialize({ ping: 1, $db: 'admin' });
  /** An insert whose document sequence (kind 1) claims `size` bytes and holds nothing but its identifier. */
  const emptySequenceClaiming = (size: number) =>
    opMsg(1, [
      bodySection({ insert: 'c', $db: 't_frames' }),
      Buffer.from([1]),
      int32(size),
      Buffer.from('documents\0', 'latin1'),
    ]);
  const cases: { name: string; message: () => Buffer; expected: RawOutcome | { reply: { body: Document } } }[] = [
    {
      name: 'a document sequence larger than the message',
      message: () => emptySequenceClaiming(1000),
      expected: { reply: { body: { ok: 0, code: 17 } } },
    },
    {
      name: 'a document sequence of size 0',
      message: () => emptySequenceClaiming(0),
      expected: { reply: { body: { ok: 0, code: 17 } } },
    },
    {
      name: 'a document in a sequence larger than its section',
      message: () => {
        const documentBytes = serialize({ _id: 1 });
        const identifier = Buffer.from('documents\0', 'latin1');
        const section = Buffer.concat([int32(4 + identifier.length + documentBytes.length), identifier, documentBytes]);
        section.writeInt32LE(documentBytes.length + 50, 4 + identifier.length);
        return opMsg(1, [
          bodySection({ insert: 'c', $db: 't_frames' }),
          Buffer.from([1]),
          section,
          bodySection({ pad: 'x'.repeat(80) }).subarray(1),
        ]);
      },
      expected: { reply: { body: { ok: 0, code: 22, codeName: 'InvalidBSON' } } },
    },
    {
      name: 'a body whose size runs past the message',
      message: () => {
        const message = opMsg(1, [bodySection({ ping: 1, $db: 'admin' })]);
        message.writeInt32LE(ping.length + 100, 21);
        return message;
      },
      expected: { reply: { body: { ok: 0, code: 22 } } },
    },
    {
      name: 'a string whose length runs past its document',
      message: () => {
        const message = opMsg(1, [bodySection({ ping: 'x', $db: 'admin' })]);
        message.writeInt32LE(1000, 21 + 4 + 1 + 'ping\0'.length);
        return message;
      },
      expected: { reply: { body: { ok: 0, code: 22 } } },
    },
    {
      name: 'two body sections',
      message: () => opMsg(1, [bodySection({ ping: 1, $db: 'admin' }), bodySection({ ping: 1, $db: 'admin' })]),
      expected: { reply: { body: { ok: 0, code: 17, errmsg: 'Multiple body sections in message' } } },
    },
    {
      name: 'an unknown section kind',
      message: () => opMsg(1, [bodySection({ ping: 1, $db: 'admin' }), Buffer.from([7, 0, 0, 0, 0, 0])]),
      expected: { reply: { body: { ok: 0, code: 17 } } },
    },
    {
      name: 'a body nested deeper than 200 levels',
      message: () => opMsg(1, [bodySection({ ping: 1, $db: 'admin', deep: nested(201) })]),
      expected: {
        reply: {
          body: { ok: 0, code: 15, codeName: 'Overflow', errmsg: 'BSONObj exceeds maximum nested object depth' },
        },
      },
    },
    {
      name: 'an OP_QUERY whose query runs past the message',
      message: () => {
        const query = serialize({ isMaster: 1 });
        const namespace = Buffer.from('admin.$cmd\0', 'latin1');
        const head = Buffer.alloc(20);
        head.writeInt32LE(OP_QUERY, 12);
        const message = Buffer.concat([head, namespace, Buffer.alloc(8), query]);
        message.writeInt32LE(message.length, 0);
        message.writeInt32LE(query.length + 9, 20 + namespace.length + 8);
        return message;
      },
      expected: { reply: { body: { ok: 0, code: 22 } } },
    },
    {
      name: 'an OP_QUERY collection name with no terminator',
      message: () => {
        const head = Buffer.alloc(20);
        head.writeInt32LE(OP_QUERY, 12);
        const message = Buffer.concat([head, Buffer.from('admin.$cmd', 'latin1')]);
        message.writeInt32LE(message.length, 0);
        return message;
      },
      expected: { reply: { body: { ok: 0, code: 17 } } },
    },
    {
      name: 'a message length below the header size',
      message: () => Buffer.concat([int32(5), Buffer.alloc(12)]),
      expected: { closed: true },
    },
    {
      name: 'a message length above maxMessageSizeBytes',
      message: () => Buffer.concat([int32(48_000_001), Buffer.alloc(12)]),
      expected: { closed: true },
    },
    {
      name: 'an opcode the server does not speak',
      message: () => {
        const message = opMsg(1, [bodySection({ ping: 1, $db: 'admin' })]);
        message.writeInt32LE(2012, 12); // OP_COMPRESSED
        return message;
      },
      expected: { closed: true },
    },
  ];

  it.each(cases)('$name', async ({ message, expected }) => {
    expect(await sendRaw(server!.port, message())).toMatchObject(expected);
    expect(server!.child.exitCode).toBeNull();
  });

  it('a malformed message flagged moreToCome gets no reply, and the connection goes on', async () => {
    const bad = opMsg(
      1,
      [bodySection({ ping: 1, $db: 'admin' }), Buffer.from([1]), int32(-1), Buffer.from('a\0', 'latin1')],
      1 << 1,
    );
    const good = opMsg(2, [bodySection({ ping: 1, $db: 'admin' })]);
    expect(await sendRaw(server!.port, Buffer.concat([bad, good]))).toMatchObject({
      reply: { responseTo: 2, body: { ok: 1 } },
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Fuzz: frames recorded from the driver, mutated
// ---------------------------------------------------------------------------------------------------------

interface FuzzItem {
  _id: number;
  sku: string;
  qty?: number;
  tags?: string[];
  at?: Date;
  price?: number;
  note?: string;
  seen?: boolean;
  nested?: Record<string, unknown>;
}

/** Runs a realistic driver session through a recording proxy and returns every client→server frame, in order. */
async function recordDriverFrames(serverPort: number): Promise<Buffer[]> {
  const streams: Buffer[][] = [];
  const proxy = net.createServer((client) => {
    const recorded: Buffer[] = [];
    streams.push(recorded);
    const upstream = net.connect(serverPort, '127.0.0.1');
    client.on('data', (chunk) => {
      recorded.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as net.AddressInfo;
  const client = new MongoClient(`mongodb://127.0.0.1:${port}`, { serverSelectionTimeoutMS: 5000 });
  try {
    const db = client.db('fuzz_session');
    const items = db.collection<FuzzItem>('items');
    await items.createIndex({ sku: 1 }, { unique: true });
    await items.insertOne({ _id: 1, sku: 'a', qty: 5, tags: ['x', 'y'], at: new Date(0), price: 1.5 });
    await items.insertMany([
      { _id: 2, sku: 'b', qty: 1, nested: { deep: { er: [1, { x: 2 }] } } },
      { _id: 3, sku: 'c', qty: 7, note: 'hello' },
    ]);
    await items
      .find({ qty: { $gt: 2 } })
      .sort({ qty: -1 })
      .project({ sku: 1 })
      .toArray();
    await items.find({}, { batchSize: 1 }).toArray();
    await items.updateOne({ _id: 1 }, { $inc: { qty: 1 }, $set: { 'nested.a': 1 } });
    await items.updateMany({ qty: { $gte: 1 } }, { $set: { seen: true } });
    await items.bulkWrite(
      [
        { insertOne: { document: { _id: 4, sku: 'd', qty: 0 } } },
        { updateOne: { filter: { sku: 'e' }, update: { $setOnInsert: { qty: 2 } }, upsert: true } },
        { replaceOne: { filter: { _id: 3 }, replacement: { sku: 'c', qty: 8 } } },
        { deleteOne: { filter: { _id: 4 } } },
      ],
      { ordered: false },
    );
    await items
      .aggregate([
        { $match: { qty: { $gte: 0 } } },
        { $group: { _id: '$seen', total: { $sum: '$qty' } } },
        { $sort: { total: -1 } },
      ])
      .toArray();
    await items.countDocuments({ qty: { $lt: 100 } });
    await items.findOneAndUpdate({ _id: 2 }, { $set: { qty: 3 } }, { returnDocument: 'after' });
    await items.distinct('sku');
    await items.insertOne({ _id: 5, sku: 'f' }, { writeConcern: { j: true } });
    await items.deleteMany({ qty: { $lt: 0 } });
    await items.deleteOne({ _id: 5 });
    await db.command({ ping: 1 });
  } finally {
    await client.close();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
  const frames: Buffer[] = [];
  for (const stream of streams) {
    let bytes = Buffer.concat(stream);
    while (bytes.length >= 4 && bytes.length >= bytes.readInt32LE(0)) {
      frames.push(bytes.subarray(0, bytes.readInt32LE(0)));
      bytes = bytes.subarray(bytes.readInt32LE(0));
    }
  }
  return frames;
}

/** Whether an OP_MSG frame carries a kind-1 (document sequence) section. */
function hasDocumentSequence(frame: Buffer): boolean {
  if (frame.readInt32LE(12) !== OP_MSG) return false;
  for (let offset = 20; offset < frame.length; ) {
    const kind = frame[offset];
    offset += 1;
    if (kind === 1) return true;
    offset += frame.readInt32LE(offset);
  }
  return false;
}

/**
 * The same command with its `documents`/`updates`/`deletes` array moved into a kind-1 document sequence, the
 * form other clients (and the driver for some commands) send: the Node driver puts them in the body, so without
 * this twin the fuzz would never reach the sequence parser.
 */
function asDocumentSequence(frame: Buffer): Buffer | undefined {
  if (frame.readInt32LE(12) !== OP_MSG || frame[20] !== 0 || frame.readInt32LE(21) !== frame.length - 21)
    return undefined;
  const body = deserialize(frame.subarray(21));
  const field = ['documents', 'updates', 'deletes'].find((name) => Array.isArray(body[name]));
  if (!field) return undefined;
  const { [field]: documents, ...rest } = body;
  const identifier = Buffer.from(`${field}\0`, 'latin1');
  const payload = Buffer.concat((documents as Document[]).map((document) => serialize(document)));
  const sequence = Buffer.concat([
    Buffer.from([1]),
    int32(4 + identifier.length + payload.length),
    identifier,
    payload,
  ]);
  const twin = opMsg(frame.readInt32LE(4), [bodySection(rest), sequence], frame.readUInt32LE(16));
  return twin;
}

/** Offsets of the int32 length fields of a well-formed frame: the header's, sections', documents' and strings'. */
function lengthOffsets(frame: Buffer): number[] {
  const offsets = [0];
  const walkDocument = (start: number): void => {
    offsets.push(start);
    const end = start + frame.readInt32LE(start) - 1;
    for (let position = start + 4; position < end; ) {
      const type = frame[position] as number;
      position = frame.indexOf(0, position + 1) + 1;
      const fixed = FIXED_VALUE_SIZES[type];
      if (fixed !== undefined) position += fixed;
      else if (type === 2 || type === 13 || type === 14) {
        offsets.push(position);
        position += 4 + frame.readInt32LE(position);
      } else if (type === 5) {
        offsets.push(position);
        position += 5 + frame.readInt32LE(position);
      } else if (type === 3 || type === 4) {
        walkDocument(position);
        position += frame.readInt32LE(position);
      } else if (type === 11) position = frame.indexOf(0, frame.indexOf(0, position) + 1) + 1;
      else return; // not met in driver frames; the offsets found so far are enough
    }
  };
  const opCode = frame.readInt32LE(12);
  if (opCode === OP_QUERY) {
    walkDocument(frame.indexOf(0, 20) + 1 + 8);
  } else if (opCode === OP_MSG) {
    for (let offset = 20; offset < frame.length; ) {
      const kind = frame[offset];
      offset += 1;
      if (kind === 0) {
        walkDocument(offset);
        offset += frame.readInt32LE(offset);
      } else {
        offsets.push(offset);
        const sectionEnd = offset + frame.readInt32LE(offset);
        for (let next = frame.indexOf(0, offset + 4) + 1; next < sectionEnd; next += frame.readInt32LE(next))
          walkDocument(next);
        offset = sectionEnd;
      }
    }
  }
  return offsets;
}

/** `frame` is what to mutate (maybe mutated already); `original` the recorded frame it came from. */
type Mutator = (frame: Buffer, random: () => number, frames: Buffer[], original: Buffer) => Buffer;

const offsetsByFrame = new WeakMap<Buffer, number[]>();
function cachedLengthOffsets(frame: Buffer): number[] {
  let offsets = offsetsByFrame.get(frame);
  if (!offsets) {
    offsets = lengthOffsets(frame);
    offsetsByFrame.set(frame, offsets);
  }
  return offsets;
}

const below = (random: () => number, n: number): number => Math.floor(random() * n);
const pick = <T>(random: () => number, items: readonly T[]): T => items[below(random, items.length)] as T;
/** Sets the header length to the frame's size, so the mutation reaches the parser instead of the framer. */
const framed = (frame: Buffer): Buffer => {
  if (frame.length >= 4) frame.writeInt32LE(frame.length, 0);
  return frame;
};

const INTERESTING_INT32 = [
  -1,
  0,
  1,
  4,
  5,
  6,
  16,
  255,
  0x7fffffff,
  -0x80000000,
  48_000_000,
  48_000_001,
  16 * 1024 * 1024,
];

const MUTATORS: Record<string, Mutator> = {
  bitFlip: (frame, random) => {
    const out = Buffer.from(frame);
    for (let flips = 1 + below(random, 8); flips > 0; flips -= 1) {
      const at = below(random, out.length);
      out[at] = (out[at] as number) ^ (1 << below(random, 8));
    }
    return out;
  },
  bitFlipBody: (frame, random) => {
    // Flips past the header only, keeping the frame intact so the damage reaches the BSON parser.
    const out = Buffer.from(frame);
    const at = 16 + below(random, Math.max(1, out.length - 16));
    if (at < out.length) out[at] = (out[at] as number) ^ (1 << below(random, 8));
    return out;
  },
  truncate: (frame, random) => {
    const out = Buffer.from(frame.subarray(0, below(random, frame.length)));
    return random() < 0.7 ? framed(out) : out;
  },
  splice: (frame, random, frames) => {
    const other = pick(random, frames);
    const out = Buffer.concat([
      frame.subarray(0, below(random, frame.length + 1)),
      other.subarray(below(random, other.length)),
    ]);
    return random() < 0.8 ? framed(out) : out;
  },
  resizeLength: (frame, random) => {
    const out = Buffer.from(frame);
    const deltas = [-16, -5, -4, -1, 1, 4, 5, 16, 1000];
    out.writeInt32LE(random() < 0.5 ? frame.length + pick(random, deltas) : below(random, 2 ** 32) | 0, 0);
    return out;
  },
  int32AtLength: (frame, random, _frames, original) => {
    const out = Buffer.from(frame);
    // Where the recorded frame has its lengths; earlier mutations may have shortened this one.
    const at = pick(
      random,
      cachedLengthOffsets(original).filter((offset) => offset + 4 <= out.length),
    );
    if (at === undefined) return out;
    const current = out.readInt32LE(at);
    const value =
      random() < 0.5
        ? pick(random, INTERESTING_INT32)
        : random() < 0.5
          ? current + pick(random, [-5, -4, -1, 1, 4, 5, 100])
          : below(random, 2 ** 32) | 0;
    out.writeInt32LE(value | 0, at);
    return out;
  },
  insertBytes: (frame, random) => {
    const at = below(random, frame.length + 1);
    const junk = Buffer.from(Array.from({ length: 1 + below(random, 16) }, () => below(random, 256)));
    return framed(Buffer.concat([frame.subarray(0, at), junk, frame.subarray(at)]));
  },
};

interface FuzzStats {
  frames: number;
  connections: number;
  replies: number;
  errorReplies: number;
  /** Connections the server reset (it hung up with our bytes unread: a frame it could not cut, or a bad opcode). */
  resets: number;
  byMutator: Record<string, number>;
}

/** Writes `frames` on one connection, half-closes it and counts what comes back until the server closes it too. */
function sendBatch(port: number, frames: Buffer[], stats: FuzzStats): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`a connection carrying ${frames.length} fuzzed frames got no close from the server within 20 s`),
      );
    }, 20_000);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const length = buffered.readInt32LE(0);
        const opCode = buffered.readInt32LE(12);
        const body = deserialize(buffered.subarray(opCode === OP_MSG ? 21 : 36, length));
        stats.replies += 1;
        if (body.ok !== 1) stats.errorReplies += 1;
        buffered = buffered.subarray(length);
      }
    });
    socket.once('connect', () => socket.end(Buffer.concat(frames)));
    // A reset is one way the server may hang up; 'close' follows.
    socket.once('error', () => (stats.resets += 1));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('fuzz: mutated driver frames', () => {
  it(
    `survives ${FUZZ_FRAMES} mutated frames (seed ${FUZZ_SEED}), answers a fresh client throughout, and its data file reloads`,
    async () => {
      const dataFile = path.join(scratch.tmpDir(), 'fuzz.json');
      let server: ServerProcess | undefined = await startServerProcess(dataFile);
      try {
        const recorded = await recordDriverFrames(server.port);
        const opCodes = new Set(recorded.map((frame) => frame.readInt32LE(12)));
        expect(opCodes).toEqual(new Set([OP_QUERY, OP_MSG]));
        const twins = recorded
          .filter((frame) => !hasDocumentSequence(frame))
          .map(asDocumentSequence)
          .filter((twin) => twin !== undefined);
        expect(twins.length).toBeGreaterThanOrEqual(3); // inserts, updates, deletes at least
        const frames = [...recorded, ...twins];
        // A sentinel the fuzzed frames (all aimed at other databases) should not reach.
        const sentinel = new MongoClient(server.uri);
        await sentinel
          .db('fuzz_check')
          .collection('c')
          .insertOne({ _id: 'sentinel' } as Document, { writeConcern: { j: true } });
        await sentinel.close();

        const random = rng(FUZZ_SEED);
        const mutatorNames = Object.keys(MUTATORS);
        const stats: FuzzStats = { frames: 0, connections: 0, replies: 0, errorReplies: 0, resets: 0, byMutator: {} };
        const mutate = (): Buffer => {
          const original = pick(random, frames);
          // 1 in 50 unchanged (the valid paths stay exercised); otherwise one to three mutations.
          if (random() < 0.02) return original;
          let mutated = original;
          for (let rounds = 1 + below(random, 3); rounds > 0; rounds -= 1) {
            const name = pick(random, mutatorNames);
            stats.byMutator[name] = (stats.byMutator[name] ?? 0) + 1;
            mutated = (MUTATORS[name] as Mutator)(mutated.length >= 16 ? mutated : original, random, frames, original);
          }
          return mutated;
        };
        /**
         * A frame whose header length is its size and whose opcode the server speaks is cut and parsed on its own,
         * leaving the stream in step, so many can share a connection. Any other frame ends its connection's batch:
         * after it, the server hangs up or reads what follows as part of it, and the frames there would not be
         * parsed as frames.
         */
        const keepsStreamInStep = (frame: Buffer): boolean =>
          frame.length >= 16 &&
          frame.readInt32LE(0) === frame.length &&
          [OP_QUERY, OP_MSG].includes(frame.readInt32LE(12));
        const BATCH = 40;
        const PARALLEL = 4;
        const CHECK_EVERY = 5000;
        let checks = 0;
        const started = performance.now();
        while (stats.frames < FUZZ_FRAMES) {
          const batches: Buffer[][] = [];
          let batch: Buffer[] = [];
          for (const end = Math.min(FUZZ_FRAMES, stats.frames + CHECK_EVERY); stats.frames < end; stats.frames += 1) {
            const frame = mutate();
            batch.push(frame);
            if (!keepsStreamInStep(frame) || batch.length === BATCH) {
              batches.push(batch);
              batch = [];
            }
          }
          if (batch.length > 0) batches.push(batch);
          stats.connections += batches.length;
          // PARALLEL connections at a time, each taking the next batch when its own is done.
          let next = 0;
          const worker = async (): Promise<void> => {
            for (let mine = next++; mine < batches.length; mine = next++)
              await sendBatch(server!.port, batches[mine] as Buffer[], stats);
          };
          await Promise.all(Array.from({ length: PARALLEL }, worker));
          expect(server.child.exitCode, `the server exited after ${stats.frames} frames`).toBeNull();
          checks += 1;
          expect(
            await expectAnswers(server.uri, { db: 'fuzz_check', collection: 'c', filter: { _id: 'sentinel' } }),
          ).toEqual([{ _id: 'sentinel' }]);
        }
        const seconds = (performance.now() - started) / 1000;

        // The end: a fresh client still works, a journaled write lands in the data file, and the file reloads.
        const last = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
        await last
          .db('fuzz_check')
          .collection('c')
          .insertOne({ _id: 'after-fuzz' } as Document, { writeConcern: { j: true } });
        await last.close();
        expect(await server.stop()).toBe('exit 0');
        const stderrLines = server.stderrLines();
        const stderrSamples = server.stderrSamples();
        server = await startServerProcess(dataFile);
        const reloaded = await expectAnswers(server.uri, { db: 'fuzz_check', collection: 'c', filter: {} });
        expect(reloaded.map((document) => document._id).sort()).toEqual(['after-fuzz', 'sentinel']);
        expect(await server.stop()).toBe('exit 0');

        // The figures issue 12 asks for (frames, time, crashes), for the report.
        process.stdout.write(
          `[mongo fuzz] ${JSON.stringify({ seed: FUZZ_SEED, recordedFrames: recorded.length, recordedWithSequences: recorded.filter(hasDocumentSequence).length, sequenceTwins: twins.length, ...stats, healthChecks: checks + 1, seconds: Number(seconds.toFixed(1)), framesPerSecond: Math.round(stats.frames / seconds), crashes: 0, serverStderrLines: stderrLines, serverStderrSamples: stderrSamples })}\n`,
        );
      } finally {
        await kill(server);
      }
    },
    Math.max(120_000, FUZZ_FRAMES * 4),
  );
});
