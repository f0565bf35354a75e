/**
 * One parallel rates worker in a process of its own, for the rates-parallel benchmark's memory figure: the local
 * fan-out backend runs workers as threads of one process, whose RSS cannot be told apart, so the benchmark runs one
 * parse task here, exactly as a worker runs it (runParseTask: ranged GET, parse, two streamed scratch uploads), and
 * reports this process's peak RSS. The chunk is the file's last `chunkBytes`, parsed from a guessed start, as every
 * chunk but the first is.
 *
 *   node --import tsx bench/rates-parallel-task.ts '{"bucket":…,"key":…,"eTag":…,"size":…,"chunkBytes":…}'
 */
import { z } from 'zod';
import { createS3Client } from '../lib/aws/s3.ts';
import { deleteScratch, scratchKeys, scratchPrefixFor } from '../lib/rates/parallel/scratch.ts';
import { readSourceHeader } from '../lib/rates/parallel/source.ts';
import type { ParseTask } from '../lib/rates/parallel/tasks.ts';
import { runParseTask } from '../lib/rates/parallel/worker.ts';

const inputSchema = z.strictObject({
  bucket: z.string().min(1),
  key: z.string().min(1),
  eTag: z.string().min(1),
  size: z.number().int().positive(),
  chunkBytes: z.number().int().positive(),
  numerator: z.string().min(1),
  denominator: z.string().min(1),
});

const input = inputSchema.parse(JSON.parse(process.argv[2] ?? 'null'));
const s3 = createS3Client();
const source = { bucket: input.bucket, key: input.key, eTag: input.eTag, size: input.size };
const options = { numerator: input.numerator, denominator: input.denominator, bins: 30 };
const header = await readSourceHeader(s3, source, options);
const s = input.size - input.chunkBytes;
if (s <= header.dataStart) throw new Error(`a ${input.chunkBytes}-byte chunk does not fit in the file's data`);
const prefix = scratchPrefixFor(null);
const task: ParseTask = {
  kind: 'parse',
  source,
  index: 1,
  s,
  e: input.size,
  start: { kind: 'guess' },
  options,
  header: {
    columns: header.info.columns,
    numIdx: header.info.numIdx,
    denIdx: header.info.denIdx,
    rateColumn: header.info.rateColumn,
  },
  headerLine: null,
  output: scratchKeys(prefix, 1, 'g'),
  parts: null,
};
const baselineRssMb = process.memoryUsage.rss() / 2 ** 20;
const result = await runParseTask(s3, task);
const maxRssMb = process.resourceUsage().maxRSS / 1024;
await deleteScratch(s3, input.bucket, [task.output.csv, task.output.values]);
process.stdout.write(
  `${JSON.stringify({ chunkBytes: input.chunkBytes, ms: result.ms, maxRssMb, baselineRssMb, outBytes: result.csv.bytes })}\n`,
);
