/**
 * Listing, in S3's order (UTF-8 bytes), straight from s3rver's store directory. s3rver's own listing walks
 * directories in an order that is not S3's (`a/x` before `a-1`), so pages could skip keys.
 */
import { type Dirent, promises as fsp } from 'node:fs';
import path from 'node:path';
import { isInside } from './names.ts';
import { isMissing, OBJECT_SUFFIX, UPLOADS_DIR } from './s3rver.ts';

export interface ListQuery {
  prefix: string;
  delimiter: string;
  /** Only keys after this (UTF-8 byte order). */
  startAfter: string;
  /** A common prefix returned on an earlier page: everything under it is skipped. */
  skipUnder: string;
  maxKeys: number;
}

export interface ListItem {
  value: string;
  isPrefix: boolean;
}

export interface ListResult {
  keys: string[];
  commonPrefixes: string[];
  truncated: boolean;
  last: ListItem | undefined;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

async function hasAnyObject(dir: string): Promise<boolean> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith(OBJECT_SUFFIX)) return true;
  }
  for (const entry of entries) {
    if (entry.isDirectory() && (await hasAnyObject(path.join(dir, entry.name)))) return true;
  }
  return false;
}

/**
 * Keys of a bucket in UTF-8 byte order, walking s3rver's directory tree lazily. A directory `d` holds keys
 * starting with `d/`; sorting a directory's files by key and its subdirectories by `name/` gives the global
 * order. Subtrees outside the prefix, before `startAfter` or under `skipUnder` are not read; a subtree that
 * lies inside one common prefix is reported as that prefix without being read.
 */
async function* walkKeys(
  bucketDir: string,
  rel: string,
  query: ListQuery,
): AsyncGenerator<{ key: string } | { prefix: string }> {
  const dir = path.join(bucketDir, rel);
  // `rel` is built from names readdir returned, never from the request; checked all the same.
  if (rel !== '' && !isInside(bucketDir, dir))
    throw new Error(`listing left the bucket folder ${bucketDir} for ${dir}`);
  let dirents: Dirent[];
  try {
    dirents = await fsp.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  const entries: { name: string; sortKey: Buffer; isDir: boolean }[] = [];
  for (const dirent of dirents) {
    if (dirent.isDirectory()) {
      if (rel === '' && dirent.name === UPLOADS_DIR) continue;
      const name = `${rel}${dirent.name}/`;
      entries.push({ name, sortKey: Buffer.from(name, 'utf8'), isDir: true });
    } else if (dirent.isFile() && dirent.name.endsWith(OBJECT_SUFFIX)) {
      const key = rel + dirent.name.slice(0, -OBJECT_SUFFIX.length);
      if (key !== '') entries.push({ name: key, sortKey: Buffer.from(key, 'utf8'), isDir: false });
    }
  }
  entries.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));

  for (const entry of entries) {
    if (!entry.isDir) {
      yield { key: entry.name };
      continue;
    }
    const dir = entry.name; // every key below starts with `dir`
    if (!dir.startsWith(query.prefix) && !query.prefix.startsWith(dir)) continue;
    const startAfterInside = query.startAfter !== '' && query.startAfter.startsWith(dir);
    if (query.startAfter !== '' && !startAfterInside && compareUtf8(dir, query.startAfter) < 0) continue;
    if (query.skipUnder !== '' && dir.startsWith(query.skipUnder)) continue;
    if (query.delimiter !== '' && dir.startsWith(query.prefix) && !startAfterInside) {
      const at = dir.indexOf(query.delimiter, query.prefix.length);
      if (at !== -1) {
        if (await hasAnyObject(path.join(bucketDir, dir))) yield { prefix: dir.slice(0, at + query.delimiter.length) };
        continue;
      }
    }
    yield* walkKeys(bucketDir, dir, query);
  }
}

export async function listBucket(bucketDir: string, query: ListQuery): Promise<ListResult> {
  const result: ListResult = { keys: [], commonPrefixes: [], truncated: false, last: undefined };
  if (query.maxKeys === 0) return result;
  let lastPrefix: string | undefined;
  for await (const entry of walkKeys(bucketDir, '', query)) {
    let item: ListItem;
    if ('prefix' in entry) {
      item = { value: entry.prefix, isPrefix: true };
    } else {
      const { key } = entry;
      if (!key.startsWith(query.prefix)) continue;
      if (query.startAfter !== '' && compareUtf8(key, query.startAfter) <= 0) continue;
      if (query.skipUnder !== '' && key.startsWith(query.skipUnder)) continue;
      const at = query.delimiter === '' ? -1 : key.indexOf(query.delimiter, query.prefix.length);
      item =
        at === -1
          ? { value: key, isPrefix: false }
          : { value: key.slice(0, at + query.delimiter.length), isPrefix: true };
    }
    if (item.isPrefix) {
      if (item.value === lastPrefix || item.value === query.skipUnder) continue;
      lastPrefix = item.value;
    }
    if (result.keys.length + result.commonPrefixes.length === query.maxKeys) {
      result.truncated = true;
      break;
    }
    (item.isPrefix ? result.commonPrefixes : result.keys).push(item.value);
    result.last = item;
  }
  return result;
}
