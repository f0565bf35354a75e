import { invalidBson, overflow } from './errors.ts';
import { MAX_WIRE_DEPTH } from './constants.ts';

/** Sizes of the BSON element types whose values have a fixed size (0xFF minKey and 0x7F maxKey have none). */
export const FIXED_VALUE_SIZES: Readonly<Record<number, number>> = {
  1: 8,
  6: 0,
  7: 12,
  8: 1,
  9: 8,
  10: 0,
  16: 4,
  17: 8,
  18: 8,
  19: 16,
  127: 0,
  255: 0,
};

/**
 * Walks the BSON document in buffer[start, end) without recursion and checks what the `bson` parser (recursive)
 * would otherwise meet first: every length inside its parent, known element types, and nesting at most
 * MAX_WIRE_DEPTH deep. Code-with-scope values are only bounds-checked here; the parser checks their insides.
 */
export function checkBsonLayout(buffer: Buffer, start: number, end: number): void {
  /** Where each open document ends (one past its terminating 0); the last is the innermost. */
  const ends: number[] = [end];
  let position = start + 4;
  for (let documentEnd = ends.at(-1); documentEnd !== undefined; documentEnd = ends.at(-1)) {
    if (position >= documentEnd) throw invalidBson('a document runs past its declared size');
    const type = buffer[position] as number;
    if (type === 0) {
      if (position !== documentEnd - 1) throw invalidBson('a document ends before its declared size');
      ends.pop();
      position += 1;
      continue;
    }
    const nameEnd = buffer.indexOf(0, position + 1);
    if (nameEnd < 0 || nameEnd >= documentEnd - 1) throw invalidBson('a field name runs past its document');
    position = nameEnd + 1;
    /** Bytes the value may take: up to the terminating 0 of its document. */
    const room = documentEnd - 1 - position;
    const fixed = FIXED_VALUE_SIZES[type];
    if (fixed !== undefined) {
      if (fixed > room) throw invalidBson(`a value of type ${type} runs past its document`);
      position += fixed;
      continue;
    }
    if (type === 11) {
      // regex: pattern and options, two cstrings
      const patternEnd = buffer.indexOf(0, position);
      const optionsEnd = patternEnd < 0 ? -1 : buffer.indexOf(0, patternEnd + 1);
      if (optionsEnd < 0 || optionsEnd >= documentEnd - 1)
        throw invalidBson('a regular expression runs past its document');
      position = optionsEnd + 1;
      continue;
    }
    if (room < 4) throw invalidBson(`a value of type ${type} runs past its document`);
    const length = buffer.readInt32LE(position);
    /** Bytes the value takes in all, by its type's layout; NaN where the length is impossible. */
    let size: number;
    if (type === 2 || type === 13 || type === 14)
      size = length >= 1 ? 4 + length : NaN; // string, code, symbol
    else if (type === 5)
      size = length >= 0 ? 5 + length : NaN; // binary: length, subtype, bytes
    else if (type === 12)
      size = length >= 1 ? 16 + length : NaN; // DBPointer: string, ObjectId
    else if (type === 15)
      size = length >= 14 ? length : NaN; // code with scope: total length counts itself
    else if (type === 3 || type === 4)
      size = length >= 5 ? length : NaN; // embedded document, array
    else throw invalidBson(`unknown BSON type ${type}`);
    if (!(size <= room))
      throw invalidBson(`a value of type ${type} declares ${length} bytes, more than its document holds`);
    if (type === 3 || type === 4) {
      if (ends.length >= MAX_WIRE_DEPTH) throw overflow('BSONObj exceeds maximum nested object depth');
      ends.push(position + size);
      position += 4;
    } else {
      position += size;
    }
  }
}
