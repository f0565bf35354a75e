import { UserError } from '../lib/errors.ts';
import { benchRates } from './rates.ts';

const BENCHES: Record<string, (args: string[]) => Promise<number>> = {
  rates: benchRates,
};

/** `npm run bench -- [name] [options]`: one benchmark by name, or all of them. */
export async function runBench(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name !== undefined && !name.startsWith('--')) {
    const bench = BENCHES[name];
    if (!bench) throw new UserError('INVALID_ARGUMENT', `unknown benchmark "${name}"; choose one of: ${Object.keys(BENCHES).join(', ')}`);
    return bench(rest);
  }
  let code = 0;
  for (const bench of Object.values(BENCHES)) code ||= await bench(args);
  return code;
}
