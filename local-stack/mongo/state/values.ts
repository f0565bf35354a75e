import { EJSON, ObjectId, deserialize, serialize, type Document } from 'bson';
import { MAX_STORED_DEPTH } from '../protocol/constants.ts';
import { CommandError, badValue } from '../protocol/errors.ts';
import { isPlainObject } from '../protocol/fields.ts';

/** Stored values: what may be stored, copying and comparing them as BSON, and showing them as mongod does. */

/**
 * Field names that Extended JSON, the data file's format, reads back as a BSON type rather than a field
 * (`{$oid: …}` → ObjectId, `{$undefined: true}` → null, …): a document holding one would not load as it was saved.
 */
const EJSON_TYPE_KEYS = new Set([
  '$oid',
  '$binary',
  '$uuid',
  '$symbol',
  '$numberInt',
  '$numberDecimal',
  '$numberDouble',
  '$numberLong',
  '$minKey',
  '$maxKey',
  '$regex',
  '$regularExpression',
  '$timestamp',
  '$date',
  '$code',
  '$dbPointer',
  '$undefined',
]);

/**
 * Why `document` cannot be stored, or undefined: nested more than MAX_STORED_DEPTH levels (counting the document
 * as level 1, as mongod counts), a field name the data file could not hold (a null byte — an update can make
 * one from a string value — or an Extended JSON type key), or a date JavaScript cannot hold (a BSON date past
 * ±8.64e15 ms arrives as an invalid Date, which the file would record as "NaN"). Iterative, so a value of any
 * depth (an update can build one from a long dotted path) is measured without exhausting the stack.
 */
export function unstorable(document: Document, tooDeep: () => CommandError): CommandError | undefined {
  const pending: [unknown, number, string][] = [[document, 1, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth, where] = next;
    if (depth > MAX_STORED_DEPTH) return tooDeep();
    const entries: [string, unknown][] = Array.isArray(value)
      ? value.map((child, i) => [String(i), child])
      : Object.entries(value as Document);
    for (const [field, child] of entries) {
      const path = where === '' ? field : `${where}.${field}`;
      if (field.includes('\0'))
        return badValue(`field names cannot contain null bytes: '${path.replaceAll('\0', '\\0')}'`);
      if (!Array.isArray(value) && EJSON_TYPE_KEYS.has(field) && child !== null && child !== undefined) {
        return new CommandError(
          52,
          'DollarPrefixedFieldName',
          `The dollar ($) prefixed field '${field}' in '${path}' is not valid for storage: the cloud-parallel local MongoDB server saves its data as Extended JSON, which would read it back as a BSON type`,
        );
      }
      if (child instanceof Date && Number.isNaN(child.getTime())) {
        return badValue(
          `the date in '${path}' is outside the range JavaScript dates hold (±8.64e15 ms from 1970), which this server cannot store`,
        );
      }
      if (Array.isArray(child) || isPlainObject(child)) pending.push([child, depth + 1, path]);
    }
  }
  return undefined;
}

/** A deep copy through BSON: keeps ObjectId, Date, Long… and normalizes exactly like documents off the wire. */
export const cloneDocument = (document: Document): Document => deserialize(serialize(document));

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
export const sameBson = (a: unknown, b: unknown): boolean => sameBytes(serialize({ v: a }), serialize({ v: b }));

/** A string that is equal for equal BSON values: the key of unique-index entries. */
export const keyString = (values: unknown[]): string => EJSON.stringify(values, { relaxed: false });

/** A value the way mongod prints it in messages and index bounds: `"a@x"`, `42`, `ObjectId('…')`. */
export const showValue = (value: unknown): string =>
  value instanceof ObjectId ? `ObjectId('${value.toHexString()}')` : EJSON.stringify(value, { relaxed: true });

/** `{ email: "a@x" }`, the way mongod shows key values in E11000 messages. */
export function formatKeyValue(keyValue: Document): string {
  return `{ ${Object.entries(keyValue)
    .map(([field, value]) => `${field}: ${showValue(value)}`)
    .join(', ')} }`;
}
