#!/usr/bin/env node
// Runs the CLI compiled (.cli-build/, made by `npm run build:cli`, which `npm install` runs) while it matches the
// sources (cli/compiled.js says how that is checked); otherwise runs the TypeScript sources through tsx's loader,
// as the tests and the Lambda bundle do, after a one-line notice saying why.
import { compiledEntry } from './compiled.js';

// The SDK warns on every run that its 2027 releases will need Node 22; the lockfile pins a release that
// supports Node 20 (see README), so the warning only adds noise to the CLI's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const compiled = compiledEntry();
if ('url' in compiled) {
  await import(compiled.url);
} else {
  if (compiled.reason !== null)
    process.stderr.write(`cloud-parallel: ${compiled.reason}; running the sources (npm run build:cli compiles them)\n`);
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
