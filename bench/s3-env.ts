import type { S3ServerProcess } from '../local-stack/s3/child.ts';

/**
 * This process's environment pointed at the benchmark's own S3 server: what the job under test (in this process,
 * its worker threads, or a child process it is handed to) builds its S3 client from, as a Lambda does.
 */
export function s3ServerEnv(server: S3ServerProcess): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}
