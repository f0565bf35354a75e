/**
 * How the dashboard is put together: each page is a module that exports a DashboardPage — its entry in the
 * navigation and its routes (the page itself, and the JSON or file routes its script and links use, all under the
 * page's path). server.ts matches a request against the routes of every page in PAGES' order. To add a page, write
 * `pages/<name>/index.ts` exporting one and list it in pages/index.ts.
 */
import type http from 'node:http';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ScrapeServices } from './pages/scrapes/services.ts';

export interface NavEntry {
  path: string;
  title: string;
}

/** What every route handler gets: the services the dashboard reads (through lib/), and the navigation to draw. */
export interface DashboardServices {
  s3: S3Client;
  bucket: string;
  /**
   * Where the Runs page starts a prime count: the Lambda client (lib/aws/lambda.ts) and the primes-fanout function's
   * name. Absent, the page only reads runs (a dashboard started read-only).
   */
  primes?: { lambda: LambdaClient; fanoutFunction: string };
  /** MongoDB and the scrape function, for the Scrapes page; without them the page says it is not configured. */
  scrapes?: ScrapeServices;
  /**
   * Nothing may be started from the dashboard (`cloud-parallel dashboard` without --allow-runs): pages hide their
   * forms, and the server answers every POST with 403.
   */
  readOnly?: boolean;
}

export interface RouteContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  services: DashboardServices;
  nav: readonly NavEntry[];
}

export interface Route {
  method: 'GET' | 'POST';
  /** An exact path: query parameters carry the rest (an S3 key is awkward in a path). */
  path: string;
  handle: (context: RouteContext) => Promise<void>;
}

export interface DashboardPage {
  nav: NavEntry;
  routes: readonly Route[];
}
