import type { Document } from 'bson';
import { MingoError } from 'mingo/util';

/** Errors: a command either fails as a whole ({ok: 0, ...}) or per statement (writeErrors entries). */

export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
    /** Extra reply fields, e.g. keyPattern/keyValue of a duplicate key. */
    readonly details: Document = {},
  ) {
    super(message);
  }
}

export const badValue = (message: string): CommandError => new CommandError(2, 'BadValue', message);
export const typeMismatch = (message: string): CommandError => new CommandError(14, 'TypeMismatch', message);
/** A message whose frame is whole but whose layout is not a valid OP_MSG/OP_QUERY (mongod's ProtocolError). */
export const protocolError = (message: string): CommandError => new CommandError(17, 'ProtocolError', message);
export const invalidBson = (message: string): CommandError => new CommandError(22, 'InvalidBSON', message);
export const overflow = (message: string): CommandError => new CommandError(15, 'Overflow', message);
export const immutableId = (): CommandError =>
  new CommandError(
    66,
    'ImmutableField',
    "Performing an update on the path '_id' would modify the immutable field '_id'",
  );

/** Mingo reports bad operators and paths as MingoError: the client's mistakes. Anything else is a bug here. */
export function asCommandError(error: unknown): CommandError {
  if (error instanceof CommandError) return error;
  if (error instanceof MingoError)
    return /immutable field/.test(error.message) ? immutableId() : badValue(error.message);
  process.stderr.write(`[mongo] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
  return new CommandError(1, 'InternalError', error instanceof Error ? error.message : String(error));
}

const NOT_HERE = 'is not supported by the cloud-parallel local MongoDB server (a test stand-in for mongod)';
export const notSupported = (what: string, code = 59, codeName = 'CommandNotFound'): CommandError =>
  new CommandError(code, codeName, `${what} ${NOT_HERE}`);
