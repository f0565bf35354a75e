// The hooks test/support/loaded-modules.mjs registers; they run on the loader's own thread, so each URL is written
// synchronously: the process may exit right after its last import.
import { appendFileSync } from 'node:fs';

let log = '';

export function initialize(file) {
  log = file;
}

export async function load(url, context, nextLoad) {
  if (log !== '') appendFileSync(log, `${url}\n`);
  return nextLoad(url, context);
}
