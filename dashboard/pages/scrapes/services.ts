/**
 * What the Scrapes page reads and starts: the scraper's MongoDB database (its URI from the environment, or from
 * the SSM parameter the environment names, as the scrape function reads it: lib/scrape/config.ts) and the scrape
 * function, invoked through the Lambda invoke API (lib/scrape/invoke.ts). The local stack and `cloud-parallel
 * dashboard --stage` build it the same way; only the environment and the function's name differ.
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { type Db, MongoClient } from 'mongodb';
import { loadScrapeConfig, type ScrapeSource, type SecretSource } from '../../../lib/scrape/config.ts';
import { invokeScrape } from '../../../lib/scrape/invoke.ts';
import { createScrapeJobs, type ScrapeJobs } from './jobs.ts';

export interface ScrapeServices {
  /** The scraper's database, connected on first use (a failed connection is tried again on the next request). */
  db: () => Promise<Db>;
  database: string;
  collections: Readonly<Record<ScrapeSource, string>>;
  functionName: string;
  jobs: ScrapeJobs;
  close: () => Promise<void>;
}

/** A page should say MongoDB cannot be reached in seconds, not after the driver's 30 s default. */
const SERVER_SELECTION_TIMEOUT_MS = 5_000;

export function createScrapeServices(options: {
  env: NodeJS.ProcessEnv;
  lambda: LambdaClient;
  functionName: string;
  /** Reads an SSM SecureString (lib/scrape/config.ts createSecretResolver); needed only when the URI is one. */
  readSecret: (source: SecretSource) => Promise<string>;
  log?: (line: string) => void;
}): ScrapeServices {
  const config = loadScrapeConfig(options.env);
  let client: Promise<MongoClient> | undefined;
  const connect = (): Promise<MongoClient> => {
    client ??= options
      .readSecret(config.mongo.uri)
      .then((uri) =>
        new MongoClient(uri, {
          appName: 'cloud-parallel-dashboard',
          serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS,
        }).connect(),
      )
      .catch((error: unknown) => {
        client = undefined; // the next page view tries again
        throw error;
      });
    return client;
  };
  return {
    db: async () => (await connect()).db(config.mongo.db),
    database: config.mongo.db,
    collections: config.collections,
    functionName: options.functionName,
    jobs: createScrapeJobs((input) => invokeScrape(options.lambda, options.functionName, input), options.log),
    close: async () => {
      const pending = client;
      client = undefined;
      if (pending === undefined) return;
      // A connection that never came up has nothing to close; its error was shown on the page that asked for it.
      const connected = await pending.catch(() => undefined);
      await connected?.close();
    },
  };
}
