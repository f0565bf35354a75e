// `node --import tsx --import ./test/support/loaded-modules.mjs <entry>`: appends the URL of every module the
// process loads through the ESM loader to the file named by CLOUD_PARALLEL_LOADED_MODULES, one per line. Registered
// after tsx, so its hook runs first and sees every URL, TypeScript or not (test/cli/lazy-loading.test.ts).
import { register } from 'node:module';

register('./loaded-modules-hooks.mjs', import.meta.url, { data: process.env.CLOUD_PARALLEL_LOADED_MODULES });
