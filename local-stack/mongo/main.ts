/** The local MongoDB server as a process: prints one JSON line (`uri`, `port`) on stdout when ready; logs go to stderr. */
import { commonServerOptions, parseServerArgs } from '../shared/server-args.ts';
import { integerOption, runServerMain } from '../shared/server-process.ts';
import { startMongoServer, type MongoServerOptions } from './server.ts';

export function parseCliArgs(argv: string[]): MongoServerOptions & { silent: boolean } {
  const values = parseServerArgs(argv, 27017, ['data', 'flush-delay-ms']);
  const common = commonServerOptions(values);
  const flushDelayMs = integerOption('flush-delay-ms', values['flush-delay-ms'], 0);
  return {
    ...common,
    ...(values.data === undefined ? {} : { dataFile: values.data }),
    ...(flushDelayMs === undefined ? {} : { flushDelayMs }),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'mongo',
  usage: 'mongo/main.ts [--port 27017] [--host 127.0.0.1] [--data FILE.json] [--flush-delay-ms 50] [--silent]',
  parse: parseCliArgs,
  start: async (options) => {
    const server = await startMongoServer(options);
    return { ready: { uri: server.uri, port: server.port }, close: () => server.close() };
  },
  what: 'closing connections and saving data',
  graceMs: 5000,
});
