/**
 * The dashboard's pages, in navigation order. The first is where `/` leads. A Runs page (results/primes/<runId>/)
 * and a Scrapes page (MongoDB) slot in here as pages/runs/ and pages/scrapes/.
 */
import type { DashboardPage } from '../routes.ts';
import { dataPage } from './data/index.ts';
import { scrapesPage } from './scrapes/index.ts';

export const PAGES: readonly DashboardPage[] = [dataPage, scrapesPage];
