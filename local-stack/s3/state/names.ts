/**
 * What the local S3 server accepts as a bucket name and an object key, and the one containment check for
 * the filesystem paths its store builds from them. Kept apart from the server so the rules can be read and
 * tested on their own.
 *
 * Why keys need rules at all: S3 keys are opaque strings, but s3rver stores an object at
 * `<data>/<bucket>/<key>._S3rver_object`, so a `..` segment in a key (or a bucket named `..`) names a file
 * outside the data folder.
 *
 * What AWS does, and where this server differs:
 * - A key with a `.` or `..` segment (raw or percent-encoded in the path) that climbs above the bucket
 *   (`../x`, `a/../../x`) is refused by S3 with `400 Bad Request` and an empty body. Keys in which `..`
 *   segments never climb above the bucket (`a/../b`) are accepted by S3 as their literal text
 *   ("Naming Amazon S3 objects", object key naming guidelines).
 * - This server refuses every exact `.` or `..` segment with 400 `InvalidArgument` and an S3 error body that
 *   says why: the filesystem store cannot keep `a/../b` apart from `b`, and an error a user can read beats an
 *   empty 400. MinIO and RustFS refuse the same keys for the same reason.
 * - Keys that merely contain dots (`a..b`, `.hidden`, `x/.../y`, `..backup`) are ordinary keys, as on S3.
 * - Backslashes are treated as separators too when looking for `.`/`..` segments (`..\x`): they are
 *   separators on Windows, and refusing such a key costs nothing real.
 */
import path from 'node:path';

/** S3's limit on a key's UTF-8 length (answered with `KeyTooLongError`). */
export const MAX_KEY_BYTES = 1024;

/**
 * The local store's own limit: each `/`-separated segment of a key becomes a file or folder name, and file
 * systems cap a name at 255 bytes. The last segment also carries the longest name s3rver and the front add
 * to it (`._S3rver_object` plus the front's `.<16 hex>.tmp` while writing, 36 bytes).
 */
export const MAX_SEGMENT_BYTES = 255;
const LONGEST_SUFFIX_BYTES = 36;

/**
 * s3rver names its own files `<name>._S3rver_<what>` (object, metadata, md5, the uploads folder): a key part
 * containing it would collide with them (a folder where an object's file is, or keys hidden in the uploads folder).
 */
const STORE_MARKER = '._S3rver_';

/** What is wrong with a name or key: an S3 error code and a message a user can act on. */
export interface NameProblem {
  code: 'InvalidBucketName' | 'InvalidArgument' | 'KeyTooLongError';
  message: string;
}

/**
 * The rules for general purpose bucket names (AWS "General purpose bucket naming rules"), or undefined
 * when the name follows them.
 */
export function bucketNameProblem(name: string): NameProblem | undefined {
  const invalid = (why: string): NameProblem => ({
    code: 'InvalidBucketName',
    message: `The specified bucket is not valid: "${name.slice(0, 100)}" ${why}.`,
  });
  if (name.length < 3 || name.length > 63) return invalid('must be between 3 and 63 characters long');
  if (!/^[a-z0-9.-]+$/.test(name))
    return invalid('may contain only lowercase letters, digits, dots (.) and hyphens (-)');
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return invalid('must begin and end with a letter or a digit');
  if (name.includes('..')) return invalid('must not contain two adjacent dots');
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return invalid('must not be formatted as an IP address');
  for (const prefix of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(prefix)) return invalid(`must not begin with "${prefix}" (reserved by AWS)`);
  }
  for (const suffix of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(suffix)) return invalid(`must not end with "${suffix}" (reserved by AWS)`);
  }
  return undefined;
}

/** True for a key with an exact `.` or `..` segment between `/` (or `\`) separators. */
export function hasDotSegment(key: string): boolean {
  return key.split(/[/\\]/).some((segment) => segment === '.' || segment === '..');
}

/** The rules for object keys (see the module comment), or undefined when the key follows them. */
export function keyProblem(key: string): NameProblem | undefined {
  const shown = key.length > 200 ? `${key.slice(0, 200)}...` : key;
  if (key === '') return { code: 'InvalidArgument', message: 'The object key must not be empty.' };
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    return {
      code: 'KeyTooLongError',
      message: `Your key is too long: object keys are at most ${MAX_KEY_BYTES} bytes of UTF-8.`,
    };
  }
  const segments = key.split('/');
  const longest = segments.findIndex((segment, index) => {
    const limit = index === segments.length - 1 ? MAX_SEGMENT_BYTES - LONGEST_SUFFIX_BYTES : MAX_SEGMENT_BYTES;
    return Buffer.byteLength(segment, 'utf8') > limit;
  });
  if (longest !== -1) {
    return {
      code: 'KeyTooLongError',
      message:
        `Your key is too long for the local S3 server: each "/"-separated part becomes a file name, at most ${MAX_SEGMENT_BYTES} bytes ` +
        `(${MAX_SEGMENT_BYTES - LONGEST_SUFFIX_BYTES} for the last part). AWS allows it; shorten the part or add "/" to split it.`,
    };
  }
  if (segments.some((segment) => segment.includes(STORE_MARKER))) {
    return {
      code: 'InvalidArgument',
      message: `The object key "${shown}" contains "${STORE_MARKER}", which the local S3 server's store reserves for its own files (AWS allows it).`,
    };
  }
  if (key.includes('\0')) {
    return {
      code: 'InvalidArgument',
      message: 'The object key must not contain a NUL character (the local S3 server stores keys as file names).',
    };
  }
  if (hasDotSegment(key)) {
    return {
      code: 'InvalidArgument',
      message:
        `The object key "${shown}" has a "." or ".." path segment. The local S3 server refuses such keys ` +
        '(AWS refuses those that climb above the bucket); keys that only contain dots, such as "a..b" or ".hidden", are fine.',
    };
  }
  return undefined;
}

/** True if `target` lies strictly inside the folder `base` (both resolved lexically, symlinks not followed). */
export function isInside(base: string, target: string): boolean {
  const relative = path.relative(path.resolve(base), path.resolve(target));
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}
