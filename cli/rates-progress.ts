/**
 * The CLI's view of a split run while it runs: the coordinator keeps runs/rates/<run id>/progress.json up to date
 * (lib/rates/parallel/progress.ts); this reads it about once a second and prints a line when it changed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { type RatesProgress, readProgress } from '../lib/rates/parallel/progress.ts';
import { formatMiB } from '../lib/units.ts';

/** One line for a person: chunks done, bytes processed and elapsed time, or what the run does after the parse. */
export function formatProgress(p: RatesProgress): string {
  const elapsed = `${(p.elapsedMs / 1000).toFixed(1)} s`;
  switch (p.phase) {
    case 'parse':
      return `chunks ${p.done}/${p.chunks} · ${formatMiB(p.bytesDone)} of ${formatMiB(p.bytesTotal)} · ${elapsed}`;
    case 'rerun':
      return `re-running ${p.chunks} chunk${p.chunks === 1 ? '' : 's'} whose guessed record start was wrong · ${elapsed}`;
    case 'stats':
      return `exact statistics: a round over ${p.chunks} chunk${p.chunks === 1 ? '' : 's'} · ${elapsed}`;
    case 'concat':
      return `assembling rates.csv from ${p.chunks} chunk${p.chunks === 1 ? '' : 's'} · ${elapsed}`;
  }
}

/** Prints the run's progress lines until `stop()`; `printedWithin(ms)` tells whether one was printed lately. */
export function followProgress(
  s3: S3Client,
  bucket: string,
  runId: string,
  say: (line: string) => void,
  everyMs = 1000,
): { stop(): void; printedWithin(ms: number): boolean } {
  let stopped = false;
  let last = '';
  let lastAt = -Infinity;
  // stop() cancels the pause too: a timer left running kept the process alive ~1 s after the result was printed.
  const stopping = new AbortController();
  void (async () => {
    while (!stopped) {
      await sleep(everyMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (stopped) break;
      // Progress is advisory: a failed read shows nothing and the wait for the outcome goes on.
      const progress = await readProgress(s3, bucket, runId).catch(() => null);
      if (stopped || progress === null) continue;
      const line = formatProgress(progress);
      if (line !== last) {
        last = line;
        lastAt = performance.now();
        say(line);
      }
    }
  })();
  return {
    stop: () => {
      stopped = true;
      stopping.abort();
    },
    printedWithin: (ms) => performance.now() - lastAt < ms,
  };
}
