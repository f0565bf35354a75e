/** The local MongoDB server as a process: prints one JSON line (`uri`, `port`) on stdout when ready; logs go to stderr. */
import { parseArgs } from 'node:util';
import { integerOption, portOption, runServerMain } from '../shared/server-process.ts';
import { startMongoServer, type MongoServerOptions } from './server.ts';

export function parseCliArgs(argv: string[]): MongoServerOptions & { silent: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '27017' },
      host: { type: 'string' },
      data: { type: 'string' },
      'flush-delay-ms': { type: 'string' },
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = portOption(values.port);
  const flushDelayMs = integerOption('flush-delay-ms', values['flush-delay-ms'], 0);
  return {
    port,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.data === undefined ? {} : { dataFile: values.data }),
    ...(flushDelayMs === undefined ? {} : { flushDelayMs }),
    silent: values.silent,
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
