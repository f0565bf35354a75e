/**
 * Loading the project's WebAssembly modules (the sieve's kernel, lib/primes/wasm; the rates row kernel,
 * lib/rates/wasm), each compiled from AssemblyScript by `npm run build:wasm` (run by `npm install`/`npm ci` through
 * `prepare`) into a git-ignored build/ folder: the source is the truth and every checkout builds it.
 *
 * A module's bytes come from the first of:
 *   - the bytes an esbuild bundle inlined (a `define` of base64 text: the EC2 worker bundles, which travel as one
 *     file; lib/fanout/ec2/worker-bundle.ts);
 *   - the file next to the source that loads it (a checkout, tsx, vitest, the compiled CLI);
 *   - the file under LAMBDA_TASK_ROOT or the working directory (the Lambda zip carries it through package.patterns in
 *     serverless.yml; the handler is a bundle, so import.meta.url is elsewhere).
 * Node compiles modules of this size at once, so they load synchronously, once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// @types/node 20 declares no WebAssembly API (the DOM lib does, and this project compiles without it): the
// members used here.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: WasmApi };

/** Where a module is: `projectPath` relative to the project root, `nextToSource` resolved from its loader. */
export interface WasmModuleFile {
  projectPath: string;
  /** A function, so that a bundle without a usable `import.meta.url` fails inside the loader's try, not before it. */
  nextToSource: () => URL;
  /** The bundle's inlined bytes (base64), when the loader's `define` is set. */
  inlined: string | undefined;
}

function wasmBytes({ projectPath, nextToSource, inlined }: WasmModuleFile): Uint8Array {
  if (inlined !== undefined) return Buffer.from(inlined, 'base64');
  const candidates = [fileURLToPath(nextToSource())];
  if (process.env.LAMBDA_TASK_ROOT) candidates.push(path.join(process.env.LAMBDA_TASK_ROOT, projectPath));
  candidates.push(path.join(process.cwd(), projectPath));
  for (const file of candidates) if (existsSync(file)) return readFileSync(file);
  throw new Error(`${projectPath} not found (looked in ${candidates.join(', ')}); run \`npm run build:wasm\``);
}

/**
 * The module's exports (it imports nothing), or null after one process warning saying what runs instead: the
 * callers keep a slower path that gives the same results.
 */
export function loadWasmModule<Exports>(
  file: WasmModuleFile,
  warning: { what: string; code: string; instead: string },
): Exports | null {
  try {
    return new wasm.Instance(new wasm.Module(wasmBytes(file)), {}).exports as Exports;
  } catch (error) {
    process.emitWarning(`${warning.what} did not load, ${warning.instead}: ${(error as Error).message}`, {
      code: warning.code,
    });
    return null;
  }
}
