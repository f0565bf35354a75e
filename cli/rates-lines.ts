/** The wording of `rates`'s progress lines, shared by its Lambda and EC2 paths (cli/rates.ts, cli/rates-ec2.ts). */
import type { RatesSplit } from '../lib/rates/split.ts';
import { formatBytes } from '../lib/units.ts';

/** `say`, skipping a line equal to the one before (progress callbacks repeat themselves). */
export function changedLinesOnly(say: (line: string) => void): (line: string) => void {
  let last = '';
  return (line) => {
    if (line === last) return;
    last = line;
    say(line);
  };
}

export function splitNote(split: RatesSplit | undefined): string {
  if (split?.workers !== undefined) return ` (on ${plural(split.workers, 'worker')})`;
  if (split?.chunkBytes !== undefined) return ` (in chunks of ${formatBytes(split.chunkBytes)})`;
  return '';
}

export const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
