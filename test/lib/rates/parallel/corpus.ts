/**
 * CSV files that stress the places where a file cut into byte ranges can go wrong: quotes and newlines across a
 * cut, CRLF, a BOM, multi-byte characters, bad rows, over-long records, blank lines, a missing final newline.
 */
import { MAX_RECORD_BYTES } from '../../../../lib/rates/csv-tokenizer.ts';

const HEADER = 'id,name,num,den\n';

/** Rows of `id,name,num,den` with a name built by `name(i)`. */
function rows(count: number, name: (i: number) => string, eol = '\n'): string {
  let s = '';
  for (let i = 0; i < count; i++) s += `${i},${name(i)},${(i * 37) % 1000},${1 + ((i * 7919) % 5000)}${eol}`;
  return s;
}

/** A bad row of each kind the engine knows, chosen by `i`. */
function badRow(i: number): string {
  const kinds = [
    `${i},zero,5,0`,
    `${i},text,abc,7`,
    `${i},short`,
    `${i},neg,3,-2`,
    `${i},"quoted ""bad""",x,"y"`,
    `${i},huge,1e308,1e-308`,
    `${i},"relaxed"tail,4,2`,
  ];
  return kinds[i % kinds.length] as string;
}

export interface CorpusFile {
  name: string;
  csv: Buffer;
}

/** Every line of `text` with \n made \r\n. */
const crlf = (text: string): string => text.replaceAll('\n', '\r\n');

export function corpus(): CorpusFile[] {
  const files: Record<string, string | Buffer> = {
    normal: HEADER + rows(600, (i) => `name${i}`),
    'quoted commas and newlines': HEADER + rows(500, (i) => (i % 3 === 0 ? `"a, b\n${i},x,1,2\nc"` : `n${i}`)),
    // A quoted field that looks like rows for several KiB: guesses inside it go wrong.
    'quoted fake rows': `${HEADER}${rows(40, (i) => `r${i}`)}0,"${rows(300, (i) => `fake${i}`)}",1,2\n${rows(200, (i) => `after${i}`)}`,
    crlf: crlf(HEADER + rows(600, (i) => (i % 5 === 0 ? `"two\nlines"` : `c${i}`))),
    bom: `\uFEFF${HEADER}${rows(400, (i) => `b${i}`)}`,
    unicode: HEADER + rows(500, (i) => ['é', '日本語', '😀x', 'ü"', 'ß'][i % 5] as string),
    'quoted unicode': HEADER + rows(400, (i) => `"😀\n日本, ${i}"`),
    'bad rows near boundaries': `${HEADER + Array.from({ length: 900 }, (_, i) => (i % 4 === 1 ? badRow(i) : `${i},ok,${i},3`)).join('\n')}\n`,
    'record longer than a chunk': `${HEADER}${rows(50, (i) => `s${i}`)}1,"${'long text, with commas\n'.repeat(700)}",5,6\n${rows(50, (i) => `t${i}`)}`,
    'unquoted line longer than a chunk': `${HEADER}${rows(30, (i) => `u${i}`)}1,${'x'.repeat(20_000)},5,6\n${rows(30, (i) => `v${i}`)}`,
    'extra columns': `id,name,num,den,extra\n${rows(500, (i) => (i % 2 ? `e${i},more,"and, more"` : `e${i}`))}`,
    'a chunk of bad rows only': `${HEADER}${rows(100, (i) => `g${i}`)}${Array.from({ length: 400 }, (_, i) => `${badRow(i)}\n`).join('')}${rows(100, (i) => `h${i}`)}`,
    'blank lines': `\n\r\n${HEADER}\n${rows(500, (i) => `k${i}`).replaceAll('5\n', '5\n\n\r\n')}\n\n`,
    'no trailing newline': HEADER + rows(500, (i) => `m${i}`).slice(0, -1),
    'no trailing newline, quoted end': `${HEADER}${rows(300, (i) => `q${i}`)}9,"end\nof file",1,2`,
    'cr before the final eof': `${HEADER}${rows(300, (i) => `w${i}`)}9,x,1,2\r`,
    'unclosed quote near the end': `${HEADER}${rows(300, (i) => `o${i}`)}7,"never closed,1,2\n${rows(100, (i) => `p${i}`)}`,
    'negative zero and extremes': `${HEADER}${rows(200, (i) => (i % 50 === 0 ? `z${i}` : `y${i}`)).replaceAll(',0,', ',-0,')}1,a,-0,5\n2,b,0,5\n3,c,1e300,1e-5\n`,
    'all rows bad': HEADER + Array.from({ length: 700 }, (_, i) => `${badRow(i)}\n`).join(''),
    'header only': HEADER,
    'header only, no newline': 'id,name,num,den',
    'blank lines only': '\n\r\n\n',
    empty: '',
    'missing column': 'id,name,num\n1,a,2\n',
    'rate column taken': 'rate,num,den\n1,2,3\n4,5,6\n',
  };
  // The coordinator must ask for a longer head than the sniff's 64 KiB to find this header's end.
  files['header longer than the sniff window'] =
    `id,${'long_name_'.repeat(8000)},num,den\n${rows(100, (i) => `l${i},x`)}`;
  files.binary = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]), Buffer.from(HEADER)]);
  files['not utf-8'] = Buffer.concat([
    Buffer.from(HEADER),
    Buffer.from([0x31, 0x2c, 0xe9, 0x2c, 0x31, 0x2c, 0x32, 0x0a]),
  ]);
  return Object.entries(files).map(([name, text]) => ({ name, csv: Buffer.from(text) }));
}

/** Small files (a few hundred bytes) with the same hazards, to be cut at every byte. */
export function smallCorpus(): CorpusFile[] {
  const files: Record<string, string> = {
    'small quoted newlines': `${HEADER}${rows(12, (i) => (i % 2 ? `"x\n${i},y,1,2\n"` : `s${i}`))}`,
    'small crlf with quotes': crlf(`${HEADER}${rows(10, (i) => (i % 3 ? `"a\nb"` : `c${i}`))}`),
    'small bom and unicode': `\uFEFF${HEADER}${rows(10, (i) => ['é', '日本', '😀', '"ü\n"'][i % 4] as string)}`,
    'small bad rows and blank lines': `${HEADER}\n${Array.from({ length: 14 }, (_, i) => (i % 2 ? badRow(i) : `${i},ok,${i},2`)).join('\n\r\n')}\n\n`,
    'small no trailing newline': `${HEADER}${rows(10, (i) => `"q${i}"`)}9,"end\r\n",1,2`,
  };
  return Object.entries(files).map(([name, text]) => ({ name, csv: Buffer.from(text) }));
}

/**
 * Over-long records (> MAX_RECORD_BYTES): an unquoted line, and a quote that never closes within the limit,
 * each with rows before and after. Generated, as they are over a MiB each.
 */
export function overLongCorpus(): CorpusFile[] {
  const before = rows(200, (i) => `before${i}`);
  const after = rows(200, (i) => `after${i}`);
  const line = `1,${'y'.repeat(MAX_RECORD_BYTES + 100)},2,3\n`;
  const quote = `1,"${'open quote\n'.repeat(Math.ceil(MAX_RECORD_BYTES / 11) + 50)}`;
  return [
    { name: 'over-long line', csv: Buffer.from(HEADER + before + line + after) },
    { name: 'over-long quoted record', csv: Buffer.from(HEADER + before + quote + after) },
  ];
}
