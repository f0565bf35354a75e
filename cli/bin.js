#!/usr/bin/env node
// Runs the TypeScript CLI directly (through tsx's loader), so the CLI, the tests and the Lambda bundle
// all execute the same sources with no separate build step.
import { register } from 'tsx/esm/api';

// The SDK warns on every run that its 2027 releases will need Node 22; the lockfile pins a release that
// supports Node 20 (see README), so the warning only adds noise to the CLI's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./main.ts');
