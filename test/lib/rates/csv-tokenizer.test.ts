import { describe, expect, it } from 'vitest';
import { RECORD_START, scanQuotedRecord, type QuotedScan } from '../../../lib/rates/csv-tokenizer.ts';
import { rng } from '../../support/random.ts';

const PIECES = ['a', 'b', ',', '"', '""', '\n', '\r\n', ' '];

function randomBytes(rand: () => number, length: number): Buffer {
  let s = '';
  while (s.length < length) s += PIECES[Math.floor(rand() * PIECES.length)];
  return Buffer.from(s);
}

const outcome = (scan: QuotedScan) => ({ end: scan.end, openQuoteColumn: scan.openQuoteColumn, state: scan.state });

describe('scanQuotedRecord from a given state', () => {
  it('reads the record as csv-parse does: quotes open only at a field start, "" is an escaped quote', () => {
    const buf = Buffer.from('a,"x,\n""y",b"c,d\nnext');
    expect(outcome(scanQuotedRecord(buf, 0, buf.length, false))).toEqual({
      end: 16,
      openQuoteColumn: -1,
      state: RECORD_START,
    });
    const open = Buffer.from('a,"x\n');
    expect(outcome(scanQuotedRecord(open, 0, open.length, true))).toMatchObject({
      end: -1,
      openQuoteColumn: 1,
      state: { mode: 'quoted', column: 1 },
    });
  });

  it('scanning [0, k) and then [k, n) from the state returned gives what one scan of [0, n) gives', () => {
    const rand = rng(1303);
    for (let iter = 0; iter < 400; iter++) {
      const buf = randomBytes(rand, 1 + Math.floor(rand() * 40));
      for (const final of [false, true]) {
        const whole = scanQuotedRecord(buf, 0, buf.length, final);
        for (let k = 0; k <= buf.length; k++) {
          const first = scanQuotedRecord(buf, 0, k, false);
          if (first.end !== -1) {
            expect(first.end, `${JSON.stringify(buf.toString())} cut at ${k}`).toBe(whole.end);
            continue;
          }
          const second = scanQuotedRecord(buf, k, buf.length, final, first.state);
          expect(outcome(second), `${JSON.stringify(buf.toString())} cut at ${k}`).toEqual(outcome(whole));
        }
      }
    }
  });

  it('a range that ends on a quote inside a quoted field leaves the next byte to decide', () => {
    const buf = Buffer.from('"a"",b"\n');
    const cut = scanQuotedRecord(buf, 0, 3, false);
    expect(cut.state).toEqual({ mode: 'quoted-quote', column: 0 });
    // The next byte is a quote: "" was an escaped quote, so the comma after it is inside the field.
    expect(outcome(scanQuotedRecord(buf, 3, buf.length, false, cut.state))).toEqual({
      end: 7,
      openQuoteColumn: -1,
      state: RECORD_START,
    });
    const closed = Buffer.from('"a",b\n');
    const cut2 = scanQuotedRecord(closed, 0, 3, false);
    expect(outcome(scanQuotedRecord(closed, 3, closed.length, false, cut2.state))).toEqual({
      end: 5,
      openQuoteColumn: -1,
      state: RECORD_START,
    });
  });
});
