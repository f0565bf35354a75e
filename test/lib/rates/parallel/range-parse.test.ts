/**
 * The parallel path must be the single path, byte for byte: every file of the corpus is run through computeRates
 * and through guessed chunks + verification + re-runs + merge, over many ways of cutting it, and everything
 * the job publishes (rates.csv, rows, bad rows, min/max/mean) and the rates fed to the statistics must agree.
 */
import { describe, expect, it } from 'vitest';
import { planChunks } from '../../../../lib/rates/parallel/chunks.ts';
import { parseRange, type RangeTask, readStart } from '../../../../lib/rates/parallel/range-parse.ts';
import type { ChunkReply } from '../../../../lib/rates/parallel/reply.ts';
import { rng } from '../../../support/random.ts';
import { corpus, overLongCorpus, smallCorpus } from './corpus.ts';
import { Collector, headerOf, OPTS, type Outcome, pieces, rangesAt, runParallel, runSingle } from './runs.ts';

/** Outcomes compared with -0 and NaN told apart (toEqual uses Object.is for numbers). */
function expectSame(parallel: Outcome, single: Outcome, what: string): void {
  if ('error' in single || 'error' in parallel) {
    expect(parallel, what).toEqual(single);
    return;
  }
  // Big buffers first by equality (a readable diff on a short mismatch), then the rest.
  expect(parallel.out.equals(single.out), `${what}: rates.csv bytes`).toBe(true);
  expect(parallel.values.equals(single.values), `${what}: the rates fed to the statistics`).toBe(true);
  expect({ ...parallel, out: null, values: null }, what).toEqual({ ...single, out: null, values: null });
}

/** `count` ranges of (nearly) equal size. */
const even = (count: number) => (dataStart: number, size: number) =>
  rangesAt(
    dataStart,
    size,
    Array.from({ length: count - 1 }, (_, k) => dataStart + Math.floor(((k + 1) * (size - dataStart)) / count)),
  );

const bySize = (chunkBytes: number) => (dataStart: number, size: number) =>
  size > dataStart ? planChunks({ dataStart, size, chunkBytes }) : rangesAt(dataStart, size, []);

describe('parallel rates = single path, on every corpus file', () => {
  for (const { name, csv } of corpus()) {
    it(`${name} (${csv.length} bytes)`, async () => {
      const single = await runSingle(csv);
      for (const count of [1, 2, 3, 7]) {
        expectSame((await runParallel(csv, even(count))).outcome, single, `${count} chunks`);
      }
      for (const chunkBytes of [4096, 5000, 9973]) {
        expectSame((await runParallel(csv, bySize(chunkBytes), 1000)).outcome, single, `${chunkBytes}-byte chunks`);
      }
      // Input in odd little pieces: CRLF, UTF-8 sequences and quotes split between reads.
      expectSame((await runParallel(csv, even(7), 7)).outcome, single, '7 chunks fed 7 bytes at a time');
    });
  }
});

describe('every split position of small files', () => {
  const hasHeader = (csv: Buffer): boolean => {
    try {
      headerOf(csv);
      return true;
    } catch {
      return false;
    }
  };
  // Files without a usable header fail before any chunk exists (their equality is checked above).
  const small = [...smallCorpus(), ...corpus().filter((f) => f.csv.length < 700 && hasHeader(f.csv))];
  const tricky = Buffer.from(
    'id,name,num,den\r\n1,"a\r\n2,b,3,4\r\n",5,6\r\n\r\n7,é😀,8,9\r\n"x""\n",y,1,0\r\n3,"q,""\n""",1,2\r\n9,z,4,5',
  );
  for (const { name, csv } of [...small, { name: 'tricky', csv: tricky }]) {
    it(`${name}: two chunks cut at every byte`, async () => {
      const single = await runSingle(csv);
      const { dataStart } = headerOf(csv);
      for (let cut = dataStart + 1; cut < csv.length; cut++) {
        const run = await runParallel(csv, (d, size) => rangesAt(d, size, [cut]), 3);
        expectSame(run.outcome, single, `cut at ${cut}`);
      }
    });
  }
  it('tricky: three chunks cut at every pair of bytes', async () => {
    const single = await runSingle(tricky);
    const { dataStart } = headerOf(tricky);
    for (let a = dataStart + 1; a < tricky.length; a++) {
      for (let b = a; b < tricky.length; b++) {
        const run = await runParallel(tricky, (d, size) => rangesAt(d, size, [a, b]), 5);
        expectSame(run.outcome, single, `cuts at ${a}, ${b}`);
      }
    }
  });
});

describe('over-long records (> MAX_RECORD_BYTES)', () => {
  for (const { name, csv } of overLongCorpus()) {
    it(name, async () => {
      const single = await runSingle(csv);
      expect('error' in single).toBe(false);
      for (const ranges of [even(2), even(3), even(7), bySize(256 * 1024)]) {
        expectSame((await runParallel(csv, ranges)).outcome, single, name);
      }
    });
  }
});

describe('wrong guesses', () => {
  it('a guess inside a quoted field goes wrong, and the re-run makes it right', async () => {
    const file = corpus().find((f) => f.name === 'quoted fake rows');
    if (file === undefined) throw new Error('corpus lost its quoted fake rows');
    const single = await runSingle(file.csv);
    const run = await runParallel(file.csv, bySize(4096));
    expect(run.reruns).toBeGreaterThan(0);
    expect(run.rounds).toBeGreaterThan(1);
    expectSame(run.outcome, single, 'after re-runs');
  });

  it('no re-run when no quote hides a newline', async () => {
    const file = corpus().find((f) => f.name === 'normal');
    if (file === undefined) throw new Error('corpus lost its normal file');
    const run = await runParallel(file.csv, bySize(4096));
    expect(run.reruns).toBe(0);
    expect(run.rounds).toBe(1);
  });
});

describe('seeded random files', () => {
  /** A generator that loves quotes, newlines, CRLF and commas. */
  function randomCsv(next: () => number): Buffer {
    const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)] as T;
    const field = (): string =>
      pick([
        () => String(Math.floor(next() * 100)),
        () => `"${pick(['', 'a\nb', 'x,y', '""', '\r\n', 'é', '1\n2,3,4\n'])}"`,
        () => pick(['-0', '0', '1e3', ' 7 ', 'abc', '', '"', 'a"b', '😀']),
      ])();
    let text = pick(['', '\uFEFF']) + pick(['num,den,c\n', 'c,num,den\r\n', '\nnum,"den",c\n']);
    const lines = Math.floor(next() * 60);
    for (let i = 0; i < lines; i++) {
      const width = Math.floor(next() * 4) + 1;
      text += Array.from({ length: width }, field).join(',') + pick(['\n', '\r\n', '\n\n', '']);
    }
    return Buffer.from(text);
  }

  it('agree with the single path over random chunk sizes', async () => {
    const seed = Number(process.env.PARALLEL_SEED ?? Date.now() % 1_000_000);
    console.log(`seeded random files: seed ${seed} (rerun with PARALLEL_SEED=${seed})`);
    const next = rng(seed);
    let reruns = 0;
    for (let t = 0; t < 300; t++) {
      const csv = randomCsv(next);
      const single = await runSingle(csv);
      const cuts = Math.floor(next() * 6);
      const run = await runParallel(
        csv,
        (d, size) =>
          rangesAt(
            d,
            size,
            Array.from({ length: cuts }, () => d + Math.floor(next() * (size - d + 1))).sort((a, b) => a - b),
          ),
        () => 1 + Math.floor(next() * 20),
      );
      reruns += run.reruns;
      expectSame(run.outcome, single, `seed ${seed}, file ${t}: ${JSON.stringify(csv.toString())}`);
    }
    console.log(`seeded random files: ${reruns} re-runs`);
  });
});

describe('parseRange', () => {
  const csv = Buffer.from('num,den\n1,2\n3,4\r\n"5\n",6\n7,8\n');
  const header = headerOf(csv);
  const at = (text: string): number => csv.indexOf(text);
  const task = (s: number, e: number, start: RangeTask['start']): RangeTask => ({
    options: OPTS,
    header: header.info,
    s,
    e,
    start,
    headerLine: null,
  });
  async function parse(t: RangeTask): Promise<{ reply: ChunkReply; out: string; values: number[] }> {
    const out = new Collector();
    const values = new Collector();
    const reply = await parseRange(pieces(csv.subarray(readStart(t)), 2), t, out, values);
    const bytes = values.bytes();
    const rates = Array.from({ length: bytes.length / 8 }, (_, i) => bytes.readDoubleLE(i * 8));
    return { reply, out: out.bytes().toString(), values: rates };
  }

  it('owns the records that start before e, finishing the last one past e, and none that starts at e', async () => {
    const { reply, out, values } = await parse(
      task(header.dataStart, at('3,4') + 1, { kind: 'known', at: header.dataStart }),
    );
    expect(reply).toMatchObject({ start: header.dataStart, next: at('"5'), lines: 2, rows: 2, badRows: 0, n: 2 });
    expect(out).toBe('1,2,0.5\n3,4,0.75\n');
    expect(values).toEqual([0.5, 0.75]);
    expect(reply.inputBytes).toBe(at('"5') - header.dataStart);
    expect(reply.outputBytes).toBe(out.length);
    const exact = await parse(task(header.dataStart, at('3,4'), { kind: 'known', at: header.dataStart }));
    expect(exact.reply).toMatchObject({ next: at('3,4'), rows: 1, lines: 1 });
  });

  it('guesses the first record after a \\n at or after s - 1', async () => {
    // s - 1 is the \n before "3,4": the guess is s itself.
    expect((await parse(task(at('3,4'), csv.length, { kind: 'guess' }))).reply.start).toBe(at('3,4'));
    // CRLF cut between \r and \n: the guess is after the \n.
    expect((await parse(task(at('\n"5'), csv.length, { kind: 'guess' }))).reply.start).toBe(at('"5'));
    // Inside a quoted field: a wrong guess (verification's business), parsed as the single path would there.
    const wrong = await parse(task(at('"5') + 1, csv.length, { kind: 'guess' }));
    expect(wrong.reply.start).toBe(at('",6'));
    expect(wrong.reply.badRows).toBe(1);
  });

  it('owns nothing when its first record starts at or after e, and reports that start as next', async () => {
    const none = await parse(task(at('3,4') + 1, at('3,4') + 2, { kind: 'guess' }));
    expect(none.reply).toMatchObject({ start: at('"5'), next: at('"5'), rows: 0, lines: 0, inputBytes: 0, n: 0 });
    expect(none.out).toBe('');
    const known = await parse(task(at('3,4'), at('3,4') + 2, { kind: 'known', at: at('7,8') }));
    expect(known.reply).toMatchObject({ start: at('7,8'), next: at('7,8'), rows: 0 });
    const eof = await parse(task(csv.length - 2, csv.length, { kind: 'guess' }));
    expect(eof.reply).toMatchObject({ start: csv.length, next: csv.length, rows: 0 });
  });

  it('refuses a range that is not one', async () => {
    await expect(parse(task(9, 5, { kind: 'guess' }))).rejects.toThrow(/0 < s <= e/);
    await expect(parse(task(9, 12, { kind: 'known', at: 8 }))).rejects.toThrow(/known start/);
  });
});
