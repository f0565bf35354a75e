/**
 * Shared by the bad-input suites (test/bad-input-*.test.ts): a Lambda context, what the Lambda runtime would reply
 * for an invocation that throws, and the "no stack trace" check every reply goes through.
 */
import { createServer } from 'node:net';
import { expect, vi } from 'vitest';

export { lambdaContext } from './lambda-context.ts';

/** A frame of a JavaScript stack trace, as it would appear in a reply: `at fn (/path/file.ts:12:3)`. */
export const STACK_FRAME = /at .+\.(ts|js):\d+/;

export function expectNoStackTrace(value: unknown): void {
  expect(JSON.stringify(value) ?? '').not.toMatch(STACK_FRAME);
}

/**
 * What the Lambda Node.js runtime sends back for an invocation (or an init) that throws: the error's name, its
 * message and its stack split into lines (aws-lambda-nodejs-runtime-interface-client, `toRapidResponse`).
 * serverless-offline replies the same way.
 */
export function lambdaErrorReply(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  const e = error as Error;
  return { errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
}

/** Hundreds of rejected inputs would print hundreds of WARN lines and EMF documents; these suites check replies. */
export function quietObservability(): void {
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  vi.stubEnv('AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', 'true');
}

/** A local port nothing listens on: any SDK call sent there fails at once with ECONNREFUSED. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
