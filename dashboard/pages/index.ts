/**
 * The dashboard's pages, in navigation order. The first is where `/` leads. A Scrapes page (MongoDB) slots in here
 * as pages/scrapes/.
 */
import type { DashboardPage } from '../routes.ts';
import { dataPage } from './data/index.ts';
import { runsPage } from './runs/index.ts';
import { scrapesPage } from './scrapes/index.ts';

export const PAGES: readonly DashboardPage[] = [dataPage, runsPage, scrapesPage];
