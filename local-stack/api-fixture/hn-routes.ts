/** The HN Algolia route: one item with its whole reply tree, or the 404 Algolia answers. */
import { hnItem } from './data/hn-data.ts';
import type { Answer } from './routes.ts';

export function hnError(status: number, error: string): Answer {
  return { status, body: { status, error } };
}

export function answerItem(seed: number, rawId: string): Answer {
  const item = /^\d+$/.test(rawId) ? hnItem(seed, Number(rawId)) : undefined;
  if (!item) return hnError(404, 'Not Found');
  return { status: 200, body: item, resolvedId: String(item.id) };
}
