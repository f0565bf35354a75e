/**
 * Every command's arguments are parsed by commander (cli/parser.ts) and judged in cli/args/<command>.ts before the
 * command does anything: no local stack, no network, no file written. `parse<Command>Args` does both in one call. A
 * mistake is a CliError (INVALID_ARGUMENT, or FILE_NOT_FOUND / NOT_A_FILE for `rates`) whose message names the flag,
 * says what is allowed and shows what was given; the command's usage goes with it.
 *
 * Values lib validates are validated by lib's schemas (primesRunSchema, scrapeInputSchema, binCount, columnName),
 * with the problems told in terms of flags. One module per command, loaded only once that command is to run (never
 * for `--help`), so a command's checks load no other command's schemas. This one holds what they share.
 */
import { CliError } from '../cli-error.ts';
import type { CommandName } from '../spec.ts';
import { shown } from '../values.ts';

/** `<command> --help`: print the command's usage, do nothing else. */
export interface HelpRequest {
  help: true;
}
export const HELP: HelpRequest = { help: true };

export const invalid = (message: string, code = 'INVALID_ARGUMENT') => new CliError(message, code);

export function noPositionals(command: CommandName, positionals: string[], hint = ''): void {
  if (positionals.length > 0) {
    throw invalid(
      `${command} takes no positional arguments, got ${positionals.map((p) => shown(p)).join(', ')}${hint}`,
    );
  }
}
