/** Hacker News items 1..FIXTURE_HN_ITEM_COUNT with their reply trees: a pure function of the seed, built on demand. */
import type { HnAlgoliaItem } from '../types.ts';
import { Draws, seedFrom, slugify } from './random.ts';
import { NAME_FIRST_WORDS } from './yelp-data.ts';

/** HN items 1..this exist. */
export const FIXTURE_HN_ITEM_COUNT = 100_000;

/**
 * Items are generated in blocks of consecutive ids, each block a run of threads (a story or job followed by
 * its comments), so any one item and its reply tree can be built from its block alone, without generating
 * the items before it.
 */
const HN_BLOCK_SIZE = 40;
/** The real item 1's time (2006-10-09T18:21:51Z); later ids are later, 10 minutes apart on average. */
const HN_FIRST_ITEM_TIME = 1_160_418_111;
const HN_SECONDS_PER_ID = 600;

const HN_USER_WORDS: readonly string[] = [
  'pg',
  'tptacek',
  'patio',
  'jacques',
  'lisper',
  'kernel',
  'rustacean',
  'vim',
  'emacs',
  'gopher',
  'lambda',
  'byte',
  'cdr',
  'nyc',
  'hacker',
  'throwaway',
];
const HN_TOPICS: readonly string[] = [
  'SQLite',
  'Rust',
  'Postgres',
  'WebAssembly',
  'Kubernetes',
  'the Linux kernel',
  'TypeScript',
  'Zig',
  'OCaml',
  'LLMs',
  'Nix',
  'Erlang',
  'a tiny JIT',
  'CRDTs',
  'htmx',
];
const HN_VERBS: readonly string[] = [
  'Building',
  'Rewriting',
  'Scaling',
  'Debugging',
  'Understanding',
  'Benchmarking',
  'Shipping',
  'Teaching',
];
const HN_TITLE_ENDINGS: readonly string[] = [
  'from scratch',
  'at scale',
  'the hard way',
  'in two weeks',
  'for fun and profit',
  'without a framework',
];
const HN_DOMAINS: readonly string[] = [
  'example.com',
  'blog.example.org',
  'github.com/example',
  'arxiv.org/abs',
  'lwn.net/Articles',
  'news.example.net',
];
const HN_SENTENCES: readonly string[] = [
  'I don&#x27;t think that follows from the benchmark.',
  'We tried this at work and the tail latency got worse, not better.',
  'The original paper is worth reading: <a href="https:&#x2F;&#x2F;example.com&#x2F;paper.pdf" rel="nofollow">https:&#x2F;&#x2F;example.com&#x2F;paper.pdf</a>',
  'This is the kind of thing that looks simple until you hit the edge cases.',
  'Has anyone measured this on ARM?',
  '<i>Everything</i> is a tradeoff, but here the defaults matter most.',
  'It&#x27;s been my experience that the boring option wins in the long run.',
  'Counterpoint: the migration cost is real and rarely in these write-ups.',
  'Great write-up, thanks for sharing the numbers.',
  'The &quot;zero-cost&quot; part only holds if you never touch the slow path.',
];

type HnNode = Omit<HnAlgoliaItem, 'children'>;

function hnParagraphs(draws: Draws): string {
  const paragraphs: string[] = [];
  const count = draws.int(1, 3);
  for (let p = 0; p < count; p++) {
    // Consecutive sentences from a random start, so a paragraph never repeats itself.
    const start = draws.int(0, HN_SENTENCES.length - 1);
    const length = draws.int(1, 3);
    paragraphs.push(Array.from({ length }, (_, k) => HN_SENTENCES[(start + k) % HN_SENTENCES.length]).join(' '));
  }
  // HN separates paragraphs with a bare <p>, not <p>…</p>.
  return paragraphs.join('<p>');
}

function hnBlock(seed: number, blockIndex: number): HnNode[] {
  const draws = new Draws(seedFrom(seed, 'hn-block', blockIndex));
  const firstId = blockIndex * HN_BLOCK_SIZE + 1;
  const lastId = Math.min(firstId + HN_BLOCK_SIZE - 1, FIXTURE_HN_ITEM_COUNT);
  const nodes: HnNode[] = [];
  let thread: HnNode[] = [];
  for (let id = firstId; id <= lastId; id++) {
    const createdAt = HN_FIRST_ITEM_TIME + (id - 1) * HN_SECONDS_PER_ID + draws.int(0, HN_SECONDS_PER_ID - 1);
    const author = `${draws.pick(HN_USER_WORDS)}${draws.chance(0.6) ? draws.int(1, 999) : ''}`;
    const root = thread[0];
    const startsThread = root === undefined || root.type === 'job' || draws.chance(0.25);
    let node: HnNode;
    if (startsThread) {
      const isJob = draws.chance(0.05);
      const topic = draws.pick(HN_TOPICS);
      const style = draws.int(0, 9);
      const isAsk = !isJob && style === 0;
      const title = isJob
        ? `${draws.pick(NAME_FIRST_WORDS)} Labs (YC W${draws.int(7, 24)}) is hiring engineers to work on ${topic}`
        : isAsk
          ? `Ask HN: How do you approach ${topic} in production?`
          : style === 1
            ? `Show HN: A small ${topic} toolkit I built on weekends`
            : `${draws.pick(HN_VERBS)} ${topic} ${draws.pick(HN_TITLE_ENDINGS)}`;
      node = {
        id,
        created_at: new Date(createdAt * 1000).toISOString(),
        created_at_i: createdAt,
        type: isJob ? 'job' : 'story',
        author,
        title,
        url: isAsk ? null : `https://${draws.pick(HN_DOMAINS)}/${slugify(title).slice(0, 48)}`,
        text: isAsk ? hnParagraphs(draws) : null,
        points: isJob ? 1 : Math.floor(Math.exp(draws.next() * 6.5)),
        parent_id: null,
        story_id: id,
        options: [],
      };
      thread = [node];
    } else {
      const parent = draws.pick(thread);
      node = {
        id,
        created_at: new Date(createdAt * 1000).toISOString(),
        created_at_i: createdAt,
        type: 'comment',
        author,
        title: null,
        url: null,
        text: hnParagraphs(draws),
        points: null,
        parent_id: parent.id,
        story_id: root.id,
        options: [],
      };
      thread.push(node);
    }
    nodes.push(node);
  }
  return nodes;
}

/** Item `id` with its reply tree, or undefined when it does not exist. */
export function hnItem(seed: number, id: number): HnAlgoliaItem | undefined {
  if (!Number.isSafeInteger(id) || id < 1 || id > FIXTURE_HN_ITEM_COUNT) return undefined;
  const nodes = hnBlock(seed, Math.floor((id - 1) / HN_BLOCK_SIZE));
  const repliesTo = new Map<number, HnNode[]>();
  for (const node of nodes) {
    if (node.parent_id === null) continue;
    const siblings = repliesTo.get(node.parent_id) ?? [];
    siblings.push(node);
    repliesTo.set(node.parent_id, siblings);
  }
  const withReplies = (node: HnNode): HnAlgoliaItem => ({
    ...node,
    children: (repliesTo.get(node.id) ?? []).map(withReplies),
  });
  const node = nodes.find((candidate) => candidate.id === id);
  return node && withReplies(node);
}
