/**
 * One lock per object key and store: a GET's stat-and-open and a write's rename-with-metadata exclude each other
 * (why: state/atomic-writes.ts). Shared by the object writes and the multipart assembly, which commit alike.
 */
import type { S3rverStore } from './s3rver.ts';

export type KeyLock = <T>(bucket: string, key: string, work: () => Promise<T>) => Promise<T>;

const locksByStore = new WeakMap<S3rverStore, KeyLock>();

export function keyLockOf(store: S3rverStore): KeyLock {
  const existing = locksByStore.get(store);
  if (existing) return existing;
  const locks = new Map<string, Promise<void>>();
  const withKeyLock: KeyLock = async (bucket, key, work) => {
    const id = `${bucket}/${key}`;
    const previous = locks.get(id) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    locks.set(id, mine);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (locks.get(id) === mine) locks.delete(id);
    }
  };
  locksByStore.set(store, withKeyLock);
  return withKeyLock;
}
