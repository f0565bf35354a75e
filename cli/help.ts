/**
 * The usage text, from the specs (cli/spec.ts): the list of commands (`cloud-parallel help`), one command's usage
 * lines (printed after a refused command line), and a command's full `--help`, which commander's Help lays out
 * (options with their descriptions, wrapped to the terminal) between our usage lines, examples and environment.
 */
import type { Command, Help } from 'commander';
import { COMMANDS, SPECS, STACK_NOTE, type CommandName, type CommandSpec } from './spec.ts';

/** Where the descriptions start in USAGE. */
const COLUMN = 48;

function listed(line: string, does: string): string {
  const head = `  ${line}`;
  return head.length <= COLUMN - 2 ? `${head.padEnd(COLUMN)}${does}` : `${head}\n${' '.repeat(COLUMN)}${does}`;
}

const EXIT_CODES = `Exit codes: 0 done; 1 a refused command line, or a failed or incomplete job;
2 a bug or an outage; 130 interrupted (after ending what the command started).`;

/** `cloud-parallel help`: every command's usage lines. */
export const USAGE = `Usage: cloud-parallel <command>

${COMMANDS.flatMap((name) => SPECS[name].usage.flatMap(({ lines, does }) => [...lines.slice(0, -1).map((line) => `  ${line}`), listed(lines.at(-1)!, does)])).join('\n')}

${listed('cloud-parallel <command> --help', "that command's flags, examples and environment")}

${EXIT_CODES}
`;

const HINT = (command: CommandName) =>
  `(\`cloud-parallel ${command} --help\` explains every flag; \`cloud-parallel help\` lists every command)`;

function usageLines(spec: CommandSpec): string[] {
  return spec.usage.flatMap(({ lines, does }) => {
    const last = `  cloud-parallel ${lines.at(-1)!}`;
    const tail = last.length <= COLUMN - 2 ? [`${last.padEnd(COLUMN)}${does}`] : [last, `      ${does}`];
    return [...lines.slice(0, -1).map((line) => `  cloud-parallel ${line}`), ...tail];
  });
}

/** One command's usage lines, printed after a mistake in its arguments. */
export function usageOf(command: CommandName): string {
  return `Usage:\n${usageLines(SPECS[command]).join('\n')}\n${HINT(command)}\n`;
}

/** `text` wrapped to the help's width by commander, every line indented by `indent` spaces. */
function indented(helper: Help, text: string, indent: number): string {
  const wrapped = helper.boxWrap(text, (helper.helpWidth ?? 80) - indent);
  return wrapped
    .split('\n')
    .map((line) => `${' '.repeat(indent)}${line}`)
    .join('\n');
}

/** `cloud-parallel <command> --help`: commander's `formatHelp`, in the layout of our usage text. */
export function formatCommandHelp(spec: CommandSpec, command: Command, helper: Help): string {
  const options = helper.visibleOptions(command);
  const termWidth = Math.max(
    ...options.map((option) => helper.displayWidth(helper.optionTerm(option))),
    ...(spec.environment ?? []).map(([variable]) => variable.length),
  );
  const sections = [['Usage:', ...usageLines(spec)].join('\n')];
  if (options.length > 1) {
    const items = options.map((option) =>
      helper.formatItem(helper.optionTerm(option), termWidth, helper.optionDescription(option), helper),
    );
    sections.push(helper.formatItemList('Options:', items, helper).join('\n').trimEnd());
  }
  if (spec.examples.length > 0) {
    sections.push(
      [
        'Examples:',
        ...spec.examples.flatMap(([line, what]) => [`  ${line}`, ...(what === '' ? [] : [indented(helper, what, 6)])]),
      ].join('\n'),
    );
  }
  if (spec.environment !== undefined) {
    const items = spec.environment.map(([variable, what]) => helper.formatItem(variable, termWidth, what, helper));
    sections.push(
      [
        ...helper
          .formatItemList('Environment:', items, helper)
          .map((line) => line.trimEnd())
          .filter((line) => line !== ''),
        // Only commands that may start the local stack read its variables (`dashboard` reaches AWS instead).
        ...(spec.environment.some(([variable]) => variable === 'CLOUD_PARALLEL_STATE_DIR')
          ? [indented(helper, STACK_NOTE, 2)]
          : []),
      ].join('\n'),
    );
  }
  sections.push(`${EXIT_CODES}\n(\`cloud-parallel help\` lists every command)`);
  return `${sections.join('\n\n')}\n`;
}
