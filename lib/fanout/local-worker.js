// The entry point of each worker thread of the local fan-out backend (lib/fanout/local-backend.ts).
//
// It is JavaScript so that Node can start it before any loader is in place, and it registers tsx's loader
// itself: on Node 20 a worker started with `execArgv: ['--import', 'tsx']` does not apply tsx's hooks to the
// modules it imports ("Unknown file extension .ts"), and `--import tsx` resolves tsx from the working
// directory, while this import resolves the project's own copy wherever the process was started.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();

const { module, exportName } = workerData;

// Loading failures are answered per task, mirroring Lambda's Runtime.ImportModuleError and
// Runtime.HandlerNotFound: the worker stays up, and every task says why it cannot run.
const handler = import(module).then(
  (loaded) => {
    const fn = loaded[exportName];
    if (typeof fn !== 'function') {
      throw Object.assign(new Error(`${module} has no exported function "${exportName}"`), { name: 'HandlerNotFound' });
    }
    return fn;
  },
  (error) => {
    throw Object.assign(new Error(`cannot load ${module}: ${error?.message ?? String(error)}`), {
      name: 'ImportModuleError',
    });
  },
);
// Observed here so a module that fails to load is not also reported as an unhandled rejection.
handler.catch(() => {});

function describe(error) {
  if (error instanceof Error) return { type: error.name || 'Error', message: error.message };
  return { type: typeof error, message: String(error) };
}

// Tasks this thread has run: the first one paid for loading the module, as a Lambda cold start does.
let served = 0;

// Each reply is the worker envelope every backend reads (lib/fanout/envelope.ts), tagged with the task's id, with
// the worker's facts for the run's timeline (lib/fanout/trace.ts): its clock around the task, the thread, a cold start.
parentPort.on('message', async ({ id, task }) => {
  const started = performance.now();
  const facts = { startedAt: Date.now(), workerId: `thread-${threadId}`, coldStart: served === 0 };
  served += 1;
  let reply;
  try {
    const fn = await handler;
    reply = { id, ok: true, value: await fn(task) };
  } catch (error) {
    reply = { id, ok: false, error: describe(error) };
  }
  reply.ms = performance.now() - started;
  Object.assign(reply, facts, { endedAt: Date.now() });
  try {
    parentPort.postMessage(reply);
  } catch (error) {
    // A result that structured clone cannot copy (a function, a class with private state, ...).
    parentPort.postMessage({
      id,
      ok: false,
      error: {
        type: 'DataCloneError',
        message: `the task's result cannot leave the worker: ${describe(error).message}`,
      },
      ms: reply.ms,
      ...facts,
      endedAt: reply.endedAt,
    });
  }
});
