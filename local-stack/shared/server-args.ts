import { parseArgs } from 'node:util';
import { portOption } from './server-process.ts';

/**
 * The command line every local-stack server process shares: `--port` (with the server's own default), `--host` and
 * `--silent`, plus flags of its own that each take a value. Parsed strictly: an unknown flag or a positional is an
 * error, which runServerMain prints with the usage.
 */

export interface CommonServerFlags {
  /** Still the text given: commonServerOptions checks it, so a server may first refuse flags of its own. */
  port: string;
  host?: string;
  silent: boolean;
}

export function parseServerArgs<Flag extends string>(
  argv: string[],
  defaultPort: number,
  ownFlags: readonly Flag[],
): CommonServerFlags & Partial<Record<Flag, string>> {
  const own = Object.fromEntries(ownFlags.map((flag) => [flag, { type: 'string' as const }]));
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: String(defaultPort) },
      host: { type: 'string' },
      ...own,
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  // parseArgs cannot type flags named at run time; every one in `ownFlags` is declared a string flag above.
  return values as CommonServerFlags & Partial<Record<Flag, string>>;
}

/** The options every server takes from the common flags: the checked port, the host when given, silent. */
export function commonServerOptions(flags: CommonServerFlags): { port: number; host?: string; silent: boolean } {
  return {
    port: portOption(flags.port),
    ...(flags.host === undefined ? {} : { host: flags.host }),
    silent: flags.silent,
  };
}
