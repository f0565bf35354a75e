/**
 * Bucket notifications as AWS delivers them: the rules that select events, the record shape (event structure
 * version 2.1), key encoding, sequencers, and the notifier that turns s3rver's events (unfiltered, multipart
 * completion as `ObjectCreated:Post`, keys unencoded) and the front's own into one record per matching rule.
 */
import { randomBytes } from 'node:crypto';
import { describeError, log } from './log.ts';
import type { RequestContext } from './protocol/request.ts';
import type { S3rverStore } from './state/s3rver.ts';

export interface NotificationRule {
  bucket: string;
  prefix?: string;
  suffix?: string;
  /** e.g. `['s3:ObjectCreated:*']`; a trailing `*` matches by prefix. The `s3:` prefix is optional. */
  events: string[];
  /** Opaque to this server, e.g. a function name. */
  target: string;
  /** Becomes `s3.configurationId` in the records; defaults to `<target>-<index of the rule>`. */
  id?: string;
}

/** One S3 notification record as AWS delivers it (event structure version 2.1). */
export interface S3EventRecordLike {
  eventVersion: string;
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  /** Without the `s3:` prefix, e.g. `ObjectCreated:Put`. */
  eventName: string;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: { 'x-amz-request-id': string; 'x-amz-id-2': string };
  s3: {
    s3SchemaVersion: string;
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    /** `key` is URL-encoded as AWS does (space → `+`); `size` and `eTag` are absent on removals. */
    object: { key: string; size?: number; eTag?: string; sequencer: string };
  };
}

export interface S3EventLike {
  Records: S3EventRecordLike[];
}

/** True if a notification rule applies to an event (`eventName` with or without the `s3:` prefix). */
export function matchesRule(rule: NotificationRule, bucket: string, key: string, eventName: string): boolean {
  if (rule.bucket !== bucket) return false;
  if (rule.prefix !== undefined && !key.startsWith(rule.prefix)) return false;
  if (rule.suffix !== undefined && !key.endsWith(rule.suffix)) return false;
  const name = stripS3Prefix(eventName);
  return rule.events.some((pattern) => {
    const wanted = stripS3Prefix(pattern);
    return wanted.endsWith('*') ? name.startsWith(wanted.slice(0, -1)) : name === wanted;
  });
}

/**
 * Encodes an object key as AWS does in notifications: form-style URL encoding (space → `+`, UTF-8
 * percent-escapes, letters, digits and `.-_*` unescaped) except that `/` stays as it is.
 */
export function encodeS3EventKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    if (
      (byte >= 0x30 && byte <= 0x39) || // 0-9
      (byte >= 0x41 && byte <= 0x5a) || // A-Z
      (byte >= 0x61 && byte <= 0x7a) || // a-z
      byte === 0x2e || // .
      byte === 0x2d || // -
      byte === 0x5f || // _
      byte === 0x2a || // *
      byte === 0x2f // /
    ) {
      out += String.fromCharCode(byte);
    } else if (byte === 0x20) {
      out += '+';
    } else {
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

function stripS3Prefix(name: string): string {
  return name.startsWith('s3:') ? name.slice(3) : name;
}

class Sequencer {
  private last = 0n;
  next(): string {
    const now = BigInt(Date.now()) << 12n;
    this.last = now > this.last ? now : this.last + 1n;
    return this.last.toString(16).toUpperCase().padStart(16, '0');
  }
}

/** An object event, before it becomes a record per matching rule. */
export interface ObjectEvent {
  eventName: string;
  bucket: string;
  key: string;
  size?: number;
  eTag?: string;
}

export interface NotifierOptions {
  rules: NotificationRule[];
  region: string;
  /** The bucket owner's id, as in `userIdentity` and `ownerIdentity`. */
  ownerId: string;
  deliver: ((target: string, event: S3EventLike) => void | Promise<void>) | undefined;
  /** Read back the size and ETag s3rver leaves out of some events. */
  store: S3rverStore;
}

export interface Notifier {
  /** Emits one record per rule matching the event; delivery failures are logged, never thrown. */
  notify(event: ObjectEvent, context: RequestContext | undefined): void;
  /** Turns s3rver's event (emitted inside the request, so the request context is available) into ours. */
  fromS3rver(raw: unknown, context: RequestContext | undefined): Promise<void>;
}

export function createNotifier(options: NotifierOptions): Notifier {
  const sequencer = new Sequencer();
  const notify = (event: ObjectEvent, context: RequestContext | undefined): void => {
    const sequencerValue = sequencer.next();
    options.rules.forEach((rule, index) => {
      if (!matchesRule(rule, event.bucket, event.key, event.eventName)) return;
      const record = eventRecord(options, event, context, rule.id ?? `${rule.target}-${index}`, sequencerValue);
      deliver(options.deliver, rule.target, record);
    });
  };
  return {
    notify,
    fromS3rver: async (raw, context) => {
      const event = await fromS3rverEvent(options.store, raw, context);
      if (event) notify(event, context);
    },
  };
}

function eventRecord(
  options: NotifierOptions,
  event: ObjectEvent,
  context: RequestContext | undefined,
  configurationId: string,
  sequencer: string,
): S3EventRecordLike {
  const { region, ownerId } = options;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: new Date().toISOString(),
    eventName: event.eventName,
    userIdentity: { principalId: `AWS:${ownerId}` },
    requestParameters: { sourceIPAddress: context?.sourceIp ?? '127.0.0.1' },
    responseElements: {
      'x-amz-request-id': context?.requestId ?? randomBytes(8).toString('hex').toUpperCase(),
      'x-amz-id-2': randomBytes(48).toString('base64'),
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId,
      bucket: { name: event.bucket, ownerIdentity: { principalId: ownerId }, arn: `arn:aws:s3:::${event.bucket}` },
      object: {
        key: encodeS3EventKey(event.key),
        ...(event.size === undefined ? {} : { size: event.size }),
        ...(event.eTag === undefined ? {} : { eTag: event.eTag }),
        sequencer,
      },
    },
  };
}

function deliver(to: NotifierOptions['deliver'], target: string, record: S3EventRecordLike): void {
  if (!to) return;
  try {
    const pending = to(target, { Records: [record] });
    if (pending && typeof pending.then === 'function') {
      pending.then(undefined, (error: unknown) => log(`notification to ${target} failed: ${describeError(error)}`));
    }
  } catch (error) {
    log(`notification to ${target} failed: ${describeError(error)}`);
  }
}

async function fromS3rverEvent(
  store: S3rverStore,
  raw: unknown,
  context: RequestContext | undefined,
): Promise<ObjectEvent | undefined> {
  const record = (
    raw as {
      Records?: { eventName?: unknown; s3?: { bucket?: { name?: unknown }; object?: Record<string, unknown> } }[];
    }
  ).Records?.[0];
  const bucket = record?.s3?.bucket?.name;
  const object = record?.s3?.object;
  const key = object?.key;
  if (typeof bucket !== 'string' || typeof key !== 'string' || typeof record?.eventName !== 'string') return undefined;
  let eventName = record.eventName;
  if (eventName === 'ObjectCreated:Post' && context?.operation === 'CompleteMultipartUpload') {
    eventName = 'ObjectCreated:CompleteMultipartUpload';
  }
  if (eventName.startsWith('ObjectRemoved:')) return { eventName, bucket, key };
  let size = typeof object?.size === 'number' && Number.isFinite(object.size) ? object.size : undefined;
  let eTag = typeof object?.eTag === 'string' ? object.eTag.replace(/"/g, '') : undefined;
  if (size === undefined || eTag === undefined) {
    // s3rver leaves the ETag out of copy events; read it back.
    const metadata = await store.getMetadata(bucket, key);
    size ??= Number(metadata['content-length']);
    eTag ??= String(metadata.etag ?? '').replace(/"/g, '');
  }
  return { eventName, bucket, key, size, eTag };
}
