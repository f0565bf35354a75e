/** Reading the small JSON files a stack keeps in its state folder. */
import { readFileSync } from 'node:fs';

/** The parsed content of `file`, or undefined when it is missing, unreadable or not whole JSON (a write cut short). */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
