/**
 * The local stack's own AWS credentials: a random access key id and secret made the first time a stack starts in a
 * state directory, kept in `<stateDir>/credentials.json` readable by the user alone (0600), and reused by later
 * starts on the same directory so a shell that ran `eval "$(npx cloud-parallel local env)"` keeps working. Every
 * AWS-shaped endpoint of the stack accepts only requests signed with them (request-guard.ts).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile } from './json-file.ts';
import type { Credentials } from './sigv4.ts';

const CREDENTIALS_FILE = 'credentials.json';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

const credentialsSchema = z.strictObject({
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/),
  secretAccessKey: z.string().min(32).max(128),
});

/** An access key id shaped like AWS's (20 upper-case characters), marked as local so nobody mistakes it for one. */
export function generateCredentials(): Credentials {
  const id = [...randomBytes(16)].map((byte) => BASE32[byte % 32]).join('');
  return { accessKeyId: `LCPS${id}`, secretAccessKey: randomBytes(30).toString('base64url') };
}

export function credentialsFile(stateDir: string): string {
  return path.join(stateDir, CREDENTIALS_FILE);
}

/** The credentials kept in `stateDir`, or undefined when there are none (or they are not whole). */
export function readStackCredentials(stateDir: string): Credentials | undefined {
  const parsed = credentialsSchema.safeParse(readJsonFile(credentialsFile(stateDir)));
  return parsed.success ? parsed.data : undefined;
}

/** The stack's credentials, made (and stored with mode 0600) when the state directory has none yet. */
export function loadOrCreateStackCredentials(stateDir: string): Credentials {
  mkdirSync(stateDir, { recursive: true });
  const file = credentialsFile(stateDir);
  const existing = readStackCredentials(stateDir);
  if (existing) {
    // A copy restored from a backup or an older version may be world-readable: it holds a secret.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return existing;
  }
  const credentials = generateCredentials();
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
  return credentials;
}
