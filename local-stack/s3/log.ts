/** The local S3 server's log: stderr, as stdout carries the CLI's JSON lines. */
export function log(message: string): void {
  process.stderr.write(`[s3] ${message}\n`);
}

export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
