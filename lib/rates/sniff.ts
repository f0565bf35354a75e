/**
 * Rejects binary uploads before anything is parsed: NUL bytes or invalid UTF-8 in the first PROBE_BYTES, named
 * after the file type their magic bytes give away when they give one away.
 */
import { isUtf8 } from 'node:buffer';
import { RatesFileError } from './errors.ts';

/** NUL bytes / invalid UTF-8 are looked for in this many leading bytes. */
export const PROBE_BYTES = 64 * 1024;

/**
 * Throws NOT_CSV unless the leading bytes of `data` (the first PROBE_BYTES, or all of it when shorter) are
 * text; returns how many bytes of UTF-8 byte order mark to drop (0 or 3).
 */
export function checkCsvText(data: Buffer): number {
  let cut = Math.min(data.length, PROBE_BYTES);
  // Don't let the window end in the middle of a multi-byte character: back up to the start of the
  // character that straddles the cut (at most 3 continuation bytes).
  for (let k = 0; k < 3 && cut > 0 && cut < data.length && ((data[cut] as number) & 0xc0) === 0x80; k++) cut--;
  const window = data.subarray(0, cut);
  const nul = window.indexOf(0);
  if (nul !== -1 || !isUtf8(window)) {
    const kind = sniffBinary(window);
    const what = kind
      ? `it looks like ${kind}`
      : nul !== -1
        ? `it contains binary data (a NUL byte at byte ${nul + 1})`
        : `it is not valid UTF-8 text (first invalid byte at byte ${firstInvalidUtf8(window) + 1}; if it was saved in a legacy encoding such as Windows-1252, re-save it as "CSV UTF-8")`;
    throw new RatesFileError(
      'NOT_CSV',
      `The file is not CSV text: ${what}. Upload a comma-separated text file (UTF-8).`,
    );
  }
  return data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
}

const MAGIC: { bytes: number[]; name: string }[] = [
  { bytes: [0x89, 0x50, 0x4e, 0x47], name: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], name: 'a JPEG image' },
  { bytes: [0x47, 0x49, 0x46, 0x38], name: 'a GIF image' },
  { bytes: [0x1f, 0x8b], name: 'a gzip-compressed file (decompress it first)' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], name: 'a ZIP archive or an Excel .xlsx workbook (export the sheet as CSV)' },
  { bytes: [0xd0, 0xcf, 0x11, 0xe0], name: 'a legacy Excel .xls workbook (export the sheet as CSV)' },
  { bytes: [0x25, 0x50, 0x44, 0x46], name: 'a PDF document' },
  { bytes: [0x42, 0x5a, 0x68], name: 'a bzip2-compressed file (decompress it first)' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], name: 'a zstd-compressed file (decompress it first)' },
  { bytes: [0x50, 0x41, 0x52, 0x31], name: 'a Parquet file' },
  { bytes: [0xff, 0xfe], name: 'UTF-16 text (re-save it as UTF-8)' },
  { bytes: [0xfe, 0xff], name: 'UTF-16 text (re-save it as UTF-8)' },
];

function sniffBinary(head: Buffer): string | null {
  for (const m of MAGIC) {
    if (m.bytes.every((b, i) => head[i] === b)) return m.name;
  }
  return null;
}

/** Offset of the first byte that breaks UTF-8 (only used for the error message; isUtf8 is the judge). */
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n === -1) return i;
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length || ((b[i + k] as number) & 0xc0) !== 0x80) return i;
    }
    if (!isUtf8(b.subarray(i, i + n + 1))) return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}
