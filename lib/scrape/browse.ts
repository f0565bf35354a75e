/**
 * Reading back what the scraper stored, a page at a time: how many documents each source's collection holds, and
 * one page of them as rows a person reads (a business's name, city, rating and review count; an HN item's title,
 * points and author). The dashboard's Scrapes page shows these; anything with the MongoDB URI can call them.
 */
import type { Db } from 'mongodb';
import type { ScrapeSource } from './config.ts';
import type { ScrapeDocument } from './store.ts';

export interface CollectionCount {
  source: ScrapeSource;
  collection: string;
  documents: number;
}

export interface BusinessRow {
  id: string;
  name: string;
  city: string;
  rating: number | null;
  reviewCount: number | null;
}

export interface HnRow {
  id: string;
  title: string;
  points: number | null;
  author: string;
}

export type ScrapeRow = BusinessRow | HnRow;

export interface DocumentPage<Row> {
  rows: Row[];
  /** Documents of the source in the collection: the table's total, for its page count. */
  total: number;
}

/** The documents of each source, in its collection (SCRAPE_COLLECTION may name one collection for both). */
export async function countScrapedDocuments(
  db: Db,
  collections: Readonly<Record<ScrapeSource, string>>,
): Promise<CollectionCount[]> {
  const sources = Object.keys(collections) as ScrapeSource[];
  return Promise.all(
    sources.map(async (source) => ({
      source,
      collection: collections[source],
      documents: await db.collection<ScrapeDocument>(collections[source]).countDocuments({ source }),
    })),
  );
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const numberOrNull = (value: unknown): number | null => (typeof value === 'number' ? value : null);

/** A stored Yelp business as a row; a field the record lacks shows empty rather than failing the page. */
export function businessRow(document: Pick<ScrapeDocument, 'sourceId' | 'data'>): BusinessRow {
  const location = document.data.location as { city?: unknown } | undefined;
  return {
    id: document.sourceId,
    name: text(document.data.name),
    city: text(location?.city),
    rating: numberOrNull(document.data.rating),
    reviewCount: numberOrNull(document.data.review_count),
  };
}

export function hnRow(document: Pick<ScrapeDocument, 'sourceId' | 'data'>): HnRow {
  return {
    id: document.sourceId,
    // Comments have no title: their type says what the row is.
    title: text(document.data.title) || (text(document.data.type) === '' ? '' : `(${text(document.data.type)})`),
    points: numberOrNull(document.data.points),
    author: text(document.data.author),
  };
}

/**
 * Page `page` (from 1) of `pageSize` documents of one source. Businesses in name order, HN items by id; `_id`
 * breaks ties, so a page is the same every time while the data is.
 */
export async function pageOfScrapedDocuments(
  db: Db,
  { source, collection, page, pageSize }: { source: ScrapeSource; collection: string; page: number; pageSize: number },
): Promise<DocumentPage<ScrapeRow>> {
  const documents = db.collection<ScrapeDocument>(collection);
  const sort: Record<string, 1> = source === 'yelp' ? { 'data.name': 1, _id: 1 } : { 'data.id': 1, _id: 1 };
  const [total, found] = await Promise.all([
    documents.countDocuments({ source }),
    documents
      .find({ source }, { projection: { sourceId: 1, data: 1 } })
      .sort(sort)
      .skip((page - 1) * pageSize)
      .limit(pageSize)
      .toArray(),
  ]);
  const toRow: (document: ScrapeDocument) => ScrapeRow = source === 'yelp' ? businessRow : hnRow;
  return { total, rows: found.map(toRow) };
}
