import { Long, type Document } from 'bson';
import { typeMismatch } from './errors.ts';

/** Reading the fields of a command document, with mongod's TypeMismatch when one has the wrong type. */

export const isPlainObject = (value: unknown): value is Document =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.getPrototypeOf(value) === Object.prototype;

/** Mingo rejects `$comment`, which MongoDB allows at the top of any filter and ignores for matching. */
export function criteriaOf(filter: unknown): Document {
  if (filter === undefined || filter === null) return {};
  if (!isPlainObject(filter)) throw typeMismatch('filter must be an object');
  const { $comment: _ignored, ...criteria } = filter;
  return criteria;
}

export const isOperatorUpdate = (update: Document): boolean => Object.keys(update)[0]?.startsWith('$') ?? false;

export function optionalDocument(body: Document, field: string): Document | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw typeMismatch(`'${field}' must be an object`);
  return value;
}

export function requireString(body: Document, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw typeMismatch(`'${field}' must be a non-empty string`);
  return value;
}

export function documentArray(body: Document, field: string): Document[] {
  const value = body[field] ?? [];
  if (!Array.isArray(value) || !value.every(isPlainObject))
    throw typeMismatch(`'${field}' must be an array of objects`);
  return value;
}

/** Counts arrive as int32, double or (rarely) Long. */
export function optionalCount(body: Document, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  const count = Long.isLong(value) ? value.toNumber() : value;
  if (typeof count !== 'number' || !Number.isFinite(count)) throw typeMismatch(`'${field}' must be a number`);
  return Math.trunc(count);
}
