import type { Document } from 'bson';
import { errorReply } from '../protocol/codec.ts';
import { CommandError, asCommandError } from '../protocol/errors.ts';
import { adminCommands, unsupportedCommands } from './admin.ts';
import { aggregateCommands } from './aggregate.ts';
import { catalogCommands } from './catalog.ts';
import { commandContext, type CommandHandler, type CommandRequest, type ServerState } from './context.ts';
import { crudCommands } from './crud.ts';
import { cursorCommands } from './cursors.ts';
import { explainCommand } from './explain.ts';
import { indexCommands } from './indexes.ts';
import { readCommands } from './read.ts';
import { statsCommands } from './stats.ts';

/** Every command this server answers, by name (one file per group). */
function createCommands(state: ServerState): Record<string, CommandHandler> {
  const ctx = commandContext(state);
  const explain = explainCommand(ctx);
  return {
    ...adminCommands(ctx),
    ...catalogCommands(ctx),
    ...statsCommands(ctx),
    explain,
    ...crudCommands(ctx),
    ...readCommands(ctx),
    ...cursorCommands(ctx),
    ...aggregateCommands(ctx, explain),
    ...indexCommands(ctx),
    ...unsupportedCommands(),
  };
}

/**
 * Runs one command: counts it in serverStatus.opcounters, refuses what a standalone refuses, and turns any failure
 * into the error reply (never throws).
 */
export function commandRunner(
  state: ServerState,
  log: (message: string) => void,
): (request: CommandRequest) => Document {
  const commands = createCommands(state);
  return (request) => {
    const name = Object.keys(request.body)[0] ?? '';
    const handler = Object.hasOwn(commands, name) ? commands[name] : undefined;
    try {
      if (!handler) {
        log(`unknown command '${name}'`);
        throw new CommandError(59, 'CommandNotFound', `no such command: '${name}'`);
      }
      // insert, update and delete count their statements as they run them.
      if (name === 'find') state.opcounters.query += 1;
      else if (name === 'getMore') state.opcounters.getmore += 1;
      else if (name !== 'insert' && name !== 'update' && name !== 'delete') state.opcounters.command += 1;
      // What a standalone mongod answers to anything inside a transaction (or a retryable write).
      if (request.body.txnNumber !== undefined && name !== 'commitTransaction' && name !== 'abortTransaction') {
        throw new CommandError(
          20,
          'IllegalOperation',
          'Transaction numbers are only allowed on a replica set member or mongos',
        );
      }
      return handler(request);
    } catch (error) {
      return errorReply(asCommandError(error));
    }
  };
}
