/**
 * A command's flags, parsed by commander from its spec (cli/spec.ts). Commander recognises the flags, takes their
 * values (`--bins 5`, `--bins=5`, `--` ends the flags) and lays out `--help`; what it would refuse in words of its
 * own is refused here in the CLI's style, each message naming the flag: an unknown flag (with the flags the
 * command takes), a flag with no value (`--limit` at the end, or followed by another flag), a value given to a
 * switch (`--json=1`), a flag given twice (unless `multiple`). Positionals and values are returned as given, for
 * cli/args/ to judge with lib's schemas.
 */
import { Command, CommanderError, type Option } from 'commander';
import { CliError } from './cli-error.ts';
import { formatCommandHelp, usageOf } from './help.ts';
import type { CommandSpec, FlagSpec } from './spec.ts';
import { shown } from './values.ts';

export type FlagValues<F extends Record<string, FlagSpec>> = {
  [K in keyof F]?: F[K] extends { multiple: true }
    ? string[]
    : F[K]['flags'] extends `${string}<${string}>`
      ? string
      : boolean;
};

export interface ParsedArgs<F extends Record<string, FlagSpec>> {
  values: FlagValues<F>;
  positionals: string[];
  /** `--help` or `-h` was given: the command prints its help and does nothing else. */
  help: boolean;
}

/** A value that reads as a negative number (`--start -5`), not as a forgotten value followed by another flag. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * Commander's Command with the CLI's refusals. `unknownOption` and `optionMissingArgument` are the methods
 * commander calls for those two mistakes (lib/command.js; not in its typings, so not marked `override`); the
 * bad-input tests pin every message, so a commander release that renamed them would fail there, not silently.
 */
class FlagCommand extends Command {
  constructor(private readonly spec: CommandSpec) {
    super(spec.name);
  }

  refuse(message: string): never {
    throw new CliError(message, 'INVALID_ARGUMENT', usageOf(this.spec.name));
  }

  /** The flags as the refusals list them (declaration order; `--help` goes without saying). */
  private listed(): string {
    const names = this.options.map((option) => option.long).filter((long) => long !== undefined && long !== '--help');
    return names.length === 0 ? `${this.spec.name} takes no flags` : `${this.spec.name} takes ${names.join(', ')}`;
  }

  unknownOption(flag: string): never {
    const [name = flag, inline] =
      flag.startsWith('--') && flag.includes('=')
        ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)]
        : [flag];
    // Commander reads `--json=1` as an unknown flag: the switch exists, it takes no value.
    if (inline !== undefined && this.options.some((option) => option.long === name && option.isBoolean())) {
      this.refuse(`${name} is a switch and takes no value, got ${name}=${shown(inline)}`);
    }
    this.refuse(`unknown flag ${name}; ${this.listed()}`);
  }

  optionMissingArgument(option: Option): never {
    this.refuse(`${option.long} needs a value`);
  }

  /**
   * Commander gives a flag that takes a value whatever argument follows it; a flag there (`--limit --json`) is far
   * more likely a forgotten value than a value, so it is refused — `--limit=VALUE` still takes any value.
   */
  override parseOptions(args: string[]): ReturnType<Command['parseOptions']> {
    for (let i = 0; i < args.length && args[i] !== '--'; i++) {
      const option = this.options.find((candidate) => candidate.long === args[i] && candidate.required);
      if (option === undefined) continue;
      const value = args[++i];
      if (value === undefined) this.optionMissingArgument(option);
      if (value.startsWith('-') && !NEGATIVE_NUMBER.test(value)) {
        this.refuse(
          `${option.long} needs a value, got the flag ${shown(value)} (for a value that starts with "-", write ${option.long}=VALUE)`,
        );
      }
    }
    return super.parseOptions(args);
  }
}

/** The commander command for a spec; built per parse (cheap), so no state is left over between command lines. */
export function buildCommand(spec: CommandSpec): Command {
  const command = new FlagCommand(spec);
  command
    .helpOption(false) // -h/--help is an ordinary switch below: help is printed by the caller, never by commander mid-parse
    .allowExcessArguments() // positionals are judged by cli/args/, in the CLI's words
    .exitOverride() // commander never exits the process; anything it still refuses becomes a CliError below
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .configureHelp({ formatHelp: (cmd, helper) => formatCommandHelp(spec, cmd, helper) });
  for (const [name, flag] of Object.entries(spec.flags)) {
    const takesValue = flag.flags.includes('<');
    command.option(flag.flags, flag.description, (value: string | undefined, previous: unknown) => {
      if (flag.multiple) return [...((previous as string[] | undefined) ?? []), value];
      if (previous !== undefined) {
        command.refuse(
          takesValue
            ? `--${name} is given twice (${shown(String(previous))} and ${shown(value ?? '')}); give it once`
            : `--${name} is given twice; give it once`,
        );
      }
      return takesValue ? value : true;
    });
  }
  command.option('-h, --help', 'print this help');
  return command;
}

/** Parses `args` (the arguments after the command's name) with the spec's flags. */
export function parseFlags<F extends Record<string, FlagSpec>>(spec: CommandSpec<F>, args: string[]): ParsedArgs<F> {
  const command = buildCommand(spec);
  try {
    command.parse(args, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError)
      throw new CliError(error.message.replace(/^error: /, ''), 'INVALID_ARGUMENT', usageOf(spec.name));
    throw error;
  }
  const options = command.opts();
  const values: Record<string, unknown> = {};
  for (const option of command.options) {
    if (option.long !== undefined && option.long !== '--help')
      values[option.long.slice(2)] = options[option.attributeName()];
  }
  return { values: values as FlagValues<F>, positionals: command.args, help: options.help === true };
}
