/**
 * Hacker News items through Algolia's items API: what we require of an item, and its URL.
 */
import { z } from 'zod';

export const DEFAULT_HN_API_BASE_URL = 'https://hn.algolia.com/api/v1';
/** At most this many ids per run. */
export const MAX_HN_IDS = 10_000;

/**
 * Algolia answers an item with its whole reply tree in `children`. Each reply is its own item (and document),
 * so the stored record keeps only the direct replies' ids, as `kids` (the official HN API's name): a popular
 * story's tree would otherwise be copied into every ancestor and can outgrow MongoDB's 16 MB document limit.
 */
export const hnItemSchema = z
  .looseObject({
    id: z.number().int().positive(),
    type: z.string().min(1),
    created_at: z.string().min(1),
    created_at_i: z.number().int(),
    // Deleted items have no author; comments have no title or url.
    author: z.string().nullable(),
    title: z.string().nullable().optional(),
    url: z.string().nullable().optional(),
    text: z.string().nullable().optional(),
    points: z.number().nullable().optional(),
    parent_id: z.number().int().nullable().optional(),
    story_id: z.number().int().nullable().optional(),
    children: z.array(z.looseObject({ id: z.number().int() })),
  })
  .transform(({ children, ...item }) => ({ ...item, kids: children.map((child) => child.id) }));

export type HnItem = z.infer<typeof hnItemSchema>;

export function hnItemUrl(baseUrl: string, id: number): string {
  return `${baseUrl.replace(/\/+$/, '')}/items/${id}`;
}
