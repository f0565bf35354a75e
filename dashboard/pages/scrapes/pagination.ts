/**
 * Pages of a table: which page is shown (a page past the end shows the last), the rows it holds, and the page
 * links to draw — the first, the last, and a few around the current one, so 10,000 documents do not draw 400 links.
 */

export interface Pagination {
  /** The page shown, from 1 (1 when there are no rows). */
  page: number;
  pages: number;
  /** Rows shown, from 1; `from > to` when there are none. */
  from: number;
  to: number;
  total: number;
  /** Page numbers to link, ascending; `null` stands for a gap ("…"). */
  links: Array<number | null>;
}

/** Pages linked on each side of the current one. */
export const PAGE_LINK_RADIUS = 2;

export function paginate(total: number, requestedPage: number, pageSize: number): Pagination {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be at least 1, got ${pageSize}`);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const page = Math.min(Math.max(1, Math.floor(requestedPage) || 1), pages);
  const from = (page - 1) * pageSize + 1;
  const to = Math.min(total, page * pageSize);
  const shown = new Set([1, pages]);
  for (let p = page - PAGE_LINK_RADIUS; p <= page + PAGE_LINK_RADIUS; p++) if (p >= 1 && p <= pages) shown.add(p);
  const links: Array<number | null> = [];
  for (const p of [...shown].sort((a, b) => a - b)) {
    const previous = links.at(-1);
    // A gap of one page shows that page: "…" would take as much room.
    if (typeof previous === 'number' && p - previous === 2) links.push(previous + 1);
    else if (typeof previous === 'number' && p - previous > 2) links.push(null);
    links.push(p);
  }
  return { page, pages, from, to, total, links };
}
