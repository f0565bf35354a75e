/**
 * Runs `work` as in a checkout where `npm run build:wasm` never ran: a fresh module graph in which no file the
 * WebAssembly loader (lib/wasm-module.ts) looks for exists. Returns the process warnings emitted meanwhile.
 * Modules must be imported inside `work` (dynamic import) to get the fresh graph.
 */
import { vi } from 'vitest';

export async function withoutWasmBuild(work: () => Promise<void>): Promise<string[]> {
  vi.resetModules();
  vi.doMock('node:fs', async (original) => ({
    ...(await original<typeof import('node:fs')>()),
    existsSync: () => false,
  }));
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  try {
    await work();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    return warnings;
  } finally {
    process.off('warning', onWarning);
    vi.doUnmock('node:fs');
    vi.resetModules();
  }
}
