import { Long } from 'bson';
import {
  GIT_VERSION,
  MAX_BSON_OBJECT_SIZE,
  MAX_INCOMING_CONNECTIONS,
  MAX_MESSAGE_SIZE_BYTES,
  MAX_WIRE_VERSION,
  MAX_WRITE_BATCH_SIZE,
  VERSION,
} from '../protocol/constants.ts';
import { CommandError, notSupported } from '../protocol/errors.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/** The handshake (hello), server information and sessions; serverStatus; the mongod commands this server refuses. */
export function adminCommands(ctx: CommandContext): Record<string, CommandHandler> {
  const { state, hostAndPort } = ctx;
  const hello: CommandHandler = ({ body, connectionId }) => ({
    ...(body.helloOk === true ? { helloOk: true } : {}),
    // `ismaster` is the legacy spelling of isWritablePrimary; the driver reads either.
    isWritablePrimary: true,
    ismaster: true,
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ok: 1,
  });

  return {
    hello,
    isMaster: hello,
    ismaster: hello,
    ping: () => ({ ok: 1 }),
    buildInfo: () => ({
      version: VERSION,
      versionArray: [7, 0, 0, 0],
      gitVersion: GIT_VERSION,
      bits: 64,
      maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
      ok: 1,
    }),
    getParameter: ({ body }) => ({
      ...(body.featureCompatibilityVersion !== undefined || body.getParameter === '*'
        ? { featureCompatibilityVersion: { version: '7.0' } }
        : {}),
      ok: 1,
    }),
    getCmdLineOpts: () => ({ argv: ['mongod'], parsed: {}, ok: 1 }),
    connectionStatus: () => ({ authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] }, ok: 1 }),
    // Sessions are accepted (the driver sends lsid with everything) but hold no state here.
    endSessions: () => ({ ok: 1 }),
    // No transactions: a standalone mongod has none; commands inside one are refused (see dispatch).
    commitTransaction: () => ({ ok: 1 }),
    abortTransaction: () => ({ ok: 1 }),
    serverStatus: () => {
      const uptimeMillis = Date.now() - state.process.startedAt;
      const { current, totalCreated } = state.process.connections();
      return {
        host: hostAndPort(),
        version: VERSION,
        process: 'mongod',
        pid: Long.fromNumber(process.pid),
        uptime: Math.floor(uptimeMillis / 1000),
        uptimeMillis: Long.fromNumber(uptimeMillis),
        uptimeEstimate: Long.fromNumber(Math.floor(uptimeMillis / 1000)),
        localTime: new Date(),
        connections: { current, available: MAX_INCOMING_CONNECTIONS - current, totalCreated },
        opcounters: Object.fromEntries(
          Object.entries(state.opcounters).map(([counter, value]) => [counter, Long.fromNumber(value)]),
        ),
        ok: 1,
      };
    },
  };
}

/**
 * mongod commands this server does not implement: they fail with mongod's code for an unknown command (59) and a
 * message that says why, rather than "no such command", which would suggest a typo.
 */
const NOT_IMPLEMENTED = [
  'validate',
  'hostInfo',
  'currentOp',
  'killOp',
  'top',
  'lockInfo',
  'getLog',
  'profile',
  'usersInfo',
  'rolesInfo',
  'createUser',
  'updateUser',
  'dropUser',
  'dropAllUsersFromDatabase',
  'grantRolesToUser',
  'revokeRolesFromUser',
  'createRole',
  'updateRole',
  'dropRole',
  'collMod',
  'compact',
  'convertToCapped',
  'cloneCollectionAsCapped',
  'reIndex',
  'mapReduce',
  'dataSize',
  'fsync',
  'fsyncUnlock',
  'shutdown',
  'logRotate',
  'setParameter',
  'setFeatureCompatibilityVersion',
] as const;

export function unsupportedCommands(): Record<string, CommandHandler> {
  const commands: Record<string, CommandHandler> = {};
  for (const name of NOT_IMPLEMENTED) {
    commands[name] = () => {
      throw notSupported(name);
    };
  }
  // What a standalone mongod answers; the message also says why there is no replica set.
  for (const name of [
    'replSetGetStatus',
    'replSetGetConfig',
    'replSetInitiate',
    'replSetReconfig',
    'replSetStepDown',
  ]) {
    commands[name] = () => {
      throw new CommandError(
        76,
        'NoReplicationEnabled',
        'not running with --replSet: the cloud-parallel local MongoDB server (a test stand-in for mongod) is a standalone',
      );
    };
  }
  return commands;
}
