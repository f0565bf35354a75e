/**
 * The local stack killed and restarted: the real stack (all five processes) on free ports with a state
 * directory of its own holds S3 objects (one a > 5 MB multipart upload) and MongoDB documents; then every
 * process is SIGKILLed (a crash, the OOM killer, a laptop's lid…) and `startStack` on the same state directory
 * must notice the dead processes and start a new stack — not refuse, not hang, not return the dead one — that
 * serves all the data: object bytes and metadata, documents and indexes. Then a clean `stopStack` and the
 * data read back from its directories by freshly started servers. The stack is started twice (its Lambda
 * process, serverless-offline, takes a while).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../local-stack/mongo/server.ts';
import { startS3Server } from '../../local-stack/s3/server.ts';
import {
  isAlive,
  readStackState,
  startStack,
  stopStack,
  type StackOptions,
  type StackState,
} from '../../local-stack/stack.ts';

/** No notification rule matches these keys (the rates trigger is uploads/*.csv), so no Lambda runs. */
const PREFIX = 'fault-restart/';
const MB = 1024 * 1024;
/** The processes a whole stack runs, by name, sorted. */
const STACK_PROCESSES = ['api', 'dashboard', 'ec2', 'lambda', 'lambda-front', 'mongo', 's3'];

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

interface StoredObject {
  key: string;
  body: Buffer;
  contentType: string;
  metadata: Record<string, string>;
  /** Uploaded in parts of 5 MB. */
  parts?: number;
}

const OBJECTS: StoredObject[] = [
  {
    key: `${PREFIX}notes.txt`,
    body: Buffer.from('written before the crash\n'),
    contentType: 'text/plain',
    metadata: { origin: 'fault-test', step: 'one' },
  },
  {
    key: `${PREFIX}empty.bin`,
    body: Buffer.alloc(0),
    contentType: 'application/octet-stream',
    metadata: { empty: 'yes' },
  },
  {
    key: `${PREFIX}big/multipart.bin`,
    body: randomBytes(12 * MB + 12345),
    contentType: 'application/x-test',
    metadata: { parts: 'three' },
    parts: 3,
  },
];
const DOCUMENTS = Array.from({ length: 25 }, (_, n) => ({
  _id: `doc-${n}`,
  n,
  at: new Date(Date.UTC(2025, 0, 1, 0, n)),
  tags: ['fault', String(n % 3)],
}));

let stateDir: string;
let options: StackOptions;
const savedEnv = { ...process.env };

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'cp-stack-restart-'));
  // Fixed ports below the ephemeral range (32768+), like the e2e suites: a port picked free there can be taken by
  // any client socket's local port before the stack listens on it.
  process.env.CLOUD_PARALLEL_HTTP_PORT = '26300';
  options = {
    s3Port: 26569,
    lambdaPort: 26302,
    ec2Port: 26570,
    mongoPort: 26017,
    apiPort: 26575,
    dashboardPort: 26580,
    stateDir,
  };
});

afterAll(async () => {
  await stopStack({ stateDir });
  process.env = savedEnv;
  rmSync(stateDir, { recursive: true, force: true });
});

function s3For(state: StackState): S3Client {
  // A copy: the SDK marks the object it is given (`$source`), which would make the state differ from itself.
  return new S3Client({
    region: state.region,
    credentials: { ...state.credentials },
    endpoint: state.s3Endpoint,
    forcePathStyle: true,
  });
}

async function putObjects(s3: S3Client, bucket: string, objects: readonly StoredObject[]): Promise<void> {
  for (const object of objects) {
    const params = {
      Bucket: bucket,
      Key: object.key,
      Body: object.body,
      ContentType: object.contentType,
      Metadata: object.metadata,
    };
    if (object.parts) await new Upload({ client: s3, params, partSize: 5 * MB, queueSize: 2 }).done();
    else await s3.send(new PutObjectCommand(params));
  }
}

/** ETags by key as first stored: a restart must not change them. */
const etags = new Map<string, string>();

async function expectObjects(s3: S3Client, bucket: string, objects: readonly StoredObject[]): Promise<void> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: PREFIX }));
  expect((listed.Contents ?? []).map((entry) => [entry.Key, entry.Size])).toEqual(
    [...objects].sort((a, b) => (a.key < b.key ? -1 : 1)).map((object) => [object.key, object.body.length]),
  );
  for (const object of objects) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }));
    const bytes = await got.Body!.transformToByteArray();
    expect(bytes.length, object.key).toBe(object.body.length);
    expect(sha256(bytes), object.key).toBe(sha256(object.body));
    expect(got.ContentType, object.key).toBe(object.contentType);
    expect(got.Metadata, object.key).toEqual(object.metadata);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: object.key }));
    expect(head.ContentLength, object.key).toBe(object.body.length);
    expect(head.ETag, object.key).toMatch(/^"[0-9a-f]{32}(-\d+)?"$/);
    if (!etags.has(object.key)) etags.set(object.key, head.ETag!);
    expect(head.ETag, object.key).toBe(etags.get(object.key));
  }
}

async function withMongo<T>(uri: string, use: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = await new MongoClient(uri).connect();
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

describe('the local stack killed and restarted', () => {
  let first: StackState;
  let second: StackState;
  let bucket: string;

  it('starts and takes S3 objects (one a multipart upload) and journaled MongoDB documents', async () => {
    const started = await startStack(options);
    expect(started.started).toBe(true);
    first = started.state;
    expect(first.processes.map((proc) => proc.name).sort()).toEqual(STACK_PROCESSES);
    bucket = first.service.buckets[0]!;
    const s3 = s3For(first);
    await putObjects(s3, bucket, OBJECTS);
    await expectObjects(s3, bucket, OBJECTS);
    await withMongo(first.mongoUri, async (client) => {
      // As the scraper writes: acknowledged once saved, so a SIGKILL right after loses none of it.
      const things = client
        .db('fault_restart')
        .collection<(typeof DOCUMENTS)[number]>('things', { writeConcern: { w: 'majority', j: true } });
      await things.createIndex({ n: 1 }, { unique: true });
      await things.insertMany(DOCUMENTS);
    });
  }, 180_000);

  it('after every stack process is SIGKILLed, startStack notices and starts a new stack that serves all the data', async () => {
    for (const proc of first.processes) process.kill(proc.pid, 'SIGKILL');
    for (
      const deadline = Date.now() + 10_000;
      first.processes.some((proc) => isAlive(proc.pid)) && Date.now() < deadline;
    )
      await sleep(50);
    expect(first.processes.filter((proc) => isAlive(proc.pid)).map((proc) => proc.name)).toEqual([]);
    // The state file still names the dead processes: it no longer counts as a running stack.
    expect(existsSync(path.join(stateDir, 'state.json'))).toBe(true);
    expect(readStackState({ stateDir })).toBeNull();

    const startedAt = Date.now();
    const restarted = await startStack(options);
    expect(Date.now() - startedAt).toBeLessThan(120_000);
    expect(restarted.started).toBe(true);
    second = restarted.state;
    expect(second.processes.map((proc) => proc.name).sort()).toEqual(STACK_PROCESSES);
    for (const proc of second.processes) {
      expect(isAlive(proc.pid), proc.name).toBe(true);
      expect(first.processes.map((old) => old.pid)).not.toContain(proc.pid);
    }
    expect(readStackState({ stateDir })?.processes).toEqual(second.processes);

    await expectObjects(s3For(second), bucket, OBJECTS);
    await withMongo(second.mongoUri, async (client) => {
      const things = client.db('fault_restart').collection<(typeof DOCUMENTS)[number]>('things');
      expect(await things.find().sort({ n: 1 }).toArray()).toEqual(DOCUMENTS);
      expect((await things.listIndexes().toArray()).map((index) => index.name).sort()).toEqual(['_id_', 'n_1']);
      const duplicate = await things.insertOne({ ...DOCUMENTS[0]!, _id: 'another' }).catch((error: unknown) => error);
      expect(duplicate).toMatchObject({ code: 11000 });
    });
    // A second start of a running stack returns it as it is.
    expect(await startStack(options)).toEqual({ state: second, started: false });
  }, 180_000);

  it('a stale state file naming processes that now belong to another stack neither claims nor stops them', async () => {
    // The pids of a dead stack can come back as another stack's processes; here, the running one's, whose state
    // directory's name starts with this one's.
    const other = stateDir.slice(0, -1);
    expect(stateDir.startsWith(other)).toBe(true);
    mkdirSync(other, { recursive: true });
    try {
      writeFileSync(path.join(other, 'state.json'), JSON.stringify({ ...second, stateDir: other }));
      expect(readStackState({ stateDir: other })).toBeNull();
      expect(await stopStack({ stateDir: other })).toEqual([]);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    expect(second.processes.filter((proc) => !isAlive(proc.pid)).map((proc) => proc.name)).toEqual([]);
    expect(readStackState({ stateDir })?.processes).toEqual(second.processes);
  });

  it('a state file cut short (a start killed while writing it) counts as no stack, and stopStack clears it', async () => {
    const broken = mkdtempSync(path.join(os.tmpdir(), 'cp-stack-broken-'));
    try {
      writeFileSync(path.join(broken, 'state.json'), JSON.stringify(second).slice(0, 100));
      expect(readStackState({ stateDir: broken })).toBeNull();
      expect(await stopStack({ stateDir: broken })).toEqual([]);
      expect(existsSync(path.join(broken, 'state.json'))).toBe(false);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  it('a clean stopStack ends every process and saves everything, even w:1 writes of the last moment', async () => {
    const late: StoredObject = {
      key: `${PREFIX}after-restart.txt`,
      body: Buffer.from('written after the restart\n'),
      contentType: 'text/plain',
      metadata: { step: 'two' },
    };
    await putObjects(s3For(second), bucket, [late]);
    await withMongo(second.mongoUri, (client) =>
      client
        .db('fault_restart')
        .collection<{ _id: string; note: string }>('late')
        .insertOne({ _id: 'w1', note: 'default write concern' }),
    );

    const stopped = await stopStack({ stateDir });
    expect(stopped.map((proc) => proc.name).sort()).toEqual(STACK_PROCESSES);
    expect(second.processes.filter((proc) => isAlive(proc.pid)).map((proc) => proc.name)).toEqual([]);
    expect(existsSync(path.join(stateDir, 'state.json'))).toBe(false);
    expect(readStackState({ stateDir })).toBeNull();

    // What a startStack on this directory would serve: its servers, started again on the same data.
    const mongoFile = path.join(stateDir, 'mongo', 'data.json');
    expect(readFileSync(mongoFile, 'utf8')).toContain('"w1"');
    const mongo = await startMongoServer({ port: 0, silent: true, dataFile: mongoFile });
    const s3Server = await startS3Server({
      port: 0,
      silent: true,
      directory: path.join(stateDir, 's3'),
      buckets: second.service.buckets,
      credentials: second.credentials,
    });
    try {
      await withMongo(mongo.uri, async (client) => {
        expect(await client.db('fault_restart').collection('things').countDocuments()).toBe(DOCUMENTS.length);
        expect(
          await client.db('fault_restart').collection<{ _id: string; note: string }>('late').findOne({ _id: 'w1' }),
        ).toEqual({ _id: 'w1', note: 'default write concern' });
      });
      const s3 = new S3Client({
        region: second.region,
        credentials: { ...second.credentials },
        endpoint: s3Server.endpoint,
        forcePathStyle: true,
      });
      await expectObjects(s3, bucket, [...OBJECTS, late]);
    } finally {
      await s3Server.close();
      await mongo.close();
    }
  }, 60_000);
});
