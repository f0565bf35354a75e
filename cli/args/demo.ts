/** `demo`'s arguments: whether to leave the stack running. */
import { parseFlags, type ParsedArgs } from '../parser.ts';
import { DEMO } from '../spec.ts';
import { checkArgs } from '../values.ts';
import { HELP, type HelpRequest, noPositionals } from './common.ts';

export interface DemoRequest {
  /** Leave the stack running at the end (it is stopped otherwise, when the demo started it). */
  keep: boolean;
}

export function parseDemoArgs(args: string[]): DemoRequest | HelpRequest {
  const parsed = parseFlags(DEMO, args);
  return parsed.help ? HELP : demoRequest(parsed);
}

/** The `demo` request from its parsed flags: its values judged by lib's schemas and the checks here. */
export function demoRequest({ values, positionals }: ParsedArgs<typeof DEMO.flags>): DemoRequest {
  return checkArgs('demo', () => {
    noPositionals('demo', positionals);
    return { keep: values.keep === true };
  });
}
