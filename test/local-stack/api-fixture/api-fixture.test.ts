/**
 * The local Yelp Fusion / HN Algolia fixture: the data a scraper pages through, the errors it must handle,
 * and the faults it must survive — each checked through real HTTP with the global fetch.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  FIXTURE_BUSINESS_COUNTS,
  FIXTURE_CITIES,
  FIXTURE_HN_ITEM_COUNT,
  parseCliArgs,
  startApiFixture,
  STATS_PATH,
  STATS_RESET_PATH,
  type HnAlgoliaItem,
  type RunningApiFixture,
} from '../../../local-stack/api-fixture/index.ts';
import { spawnApiFixtureProcess } from '../../../local-stack/shared/child-server.ts';
import { withFixture } from '../../support/scrape.ts';

const SAN_FRANCISCO = 'San Francisco, CA';

// What a scraper would require of the two APIs: the tests hold the fixture's answers to it.
const businessSchema = z.object({
  id: z.string().length(22),
  alias: z.string().min(1),
  name: z.string().min(1),
  rating: z.number().min(1).max(5),
  review_count: z.number().int().min(0),
  categories: z.array(z.object({ alias: z.string(), title: z.string() })),
  coordinates: z.object({ latitude: z.number(), longitude: z.number() }),
  location: z.object({
    city: z.string(),
    state: z.string(),
    zip_code: z.string(),
    display_address: z.array(z.string()),
  }),
});
const searchSchema = z.object({
  businesses: z.array(businessSchema),
  total: z.number().int(),
  region: z.object({ center: z.object({ latitude: z.number(), longitude: z.number() }) }),
});
const detailsSchema = businessSchema.extend({ is_claimed: z.boolean(), photos: z.array(z.string()) });

/** What the schema checks of an item: all but `options`, which no scraper reads. */
type HnItemShape = Omit<HnAlgoliaItem, 'options' | 'children'> & { children: HnItemShape[] };
const hnItemSchema: z.ZodType<HnItemShape> = z.object({
  id: z.number().int(),
  created_at: z.iso.datetime(),
  created_at_i: z.number().int(),
  type: z.enum(['story', 'comment', 'job']),
  author: z.string(),
  title: z.string().nullable(),
  url: z.string().nullable(),
  text: z.string().nullable(),
  points: z.number().int().nullable(),
  parent_id: z.number().int().nullable(),
  story_id: z.number().int(),
  get children(): z.ZodArray<z.ZodType<HnItemShape>> {
    return z.array(hnItemSchema);
  },
});

function yelpGet(
  fixture: RunningApiFixture,
  pathAndQuery: string,
  init: { key?: string | null; signal?: AbortSignal } = {},
): Promise<Response> {
  const key = init.key === undefined ? fixture.apiKey : init.key;
  return fetch(`${fixture.yelpBaseUrl}${pathAndQuery}`, {
    headers: key === null ? {} : { authorization: `Bearer ${key}` },
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

function searchPath(location: string, offset: number, limit: number): string {
  return `/businesses/search?${new URLSearchParams({ location, offset: String(offset), limit: String(limit) })}`;
}

async function searchPage(
  fixture: RunningApiFixture,
  location: string,
  offset: number,
  limit: number,
): Promise<z.infer<typeof searchSchema>> {
  const response = await yelpGet(fixture, searchPath(location, offset, limit));
  expect(response.status).toBe(200);
  return searchSchema.parse(await response.json());
}

async function errorCode(response: Response): Promise<unknown> {
  const body: unknown = await response.json();
  return z.object({ error: z.object({ code: z.string() }) }).parse(body).error.code;
}

/** Statuses of `count` requests sent one after another (the order the fault decisions depend on). */
async function sequentialStatuses(count: number, request: (index: number) => Promise<Response>): Promise<Response[]> {
  const responses: Response[] = [];
  for (let index = 0; index < count; index++) {
    const response = await request(index);
    await response.arrayBuffer();
    responses.push(response);
  }
  return responses;
}

/** One fixture (seed 3) shared by a describe block's tests: started before them, closed after them. */
function useSeededFixture(): () => RunningApiFixture {
  let fixture: RunningApiFixture | undefined;
  beforeAll(async () => {
    fixture = await startApiFixture({ port: 0, silent: true, seed: 3 });
  });
  afterAll(() => fixture?.close());
  return () => {
    if (fixture === undefined) throw new Error('the fixture runs only while the tests do');
    return fixture;
  };
}

describe('Yelp business search', () => {
  const fixture = useSeededFixture();

  it('knows at least 8 cities, each with businesses', () => {
    expect(FIXTURE_CITIES.length).toBeGreaterThanOrEqual(8);
    for (const city of FIXTURE_CITIES) expect(FIXTURE_BUSINESS_COUNTS[city]).toBeGreaterThan(0);
  });

  it('pages with offset: disjoint pages, the right total, every business reachable once', async () => {
    const first = await searchPage(fixture(), SAN_FRANCISCO, 0, 20);
    const second = await searchPage(fixture(), SAN_FRANCISCO, 20, 20);
    expect(first.total).toBe(240);
    expect(first.businesses).toHaveLength(20);
    expect(second.businesses).toHaveLength(20);
    const firstIds = new Set(first.businesses.map((business) => business.id));
    expect(second.businesses.filter((business) => firstIds.has(business.id))).toEqual([]);

    const ids: string[] = [];
    for (let offset = 0; offset < first.total; offset += 50) {
      const page = await searchPage(fixture(), SAN_FRANCISCO, offset, 50);
      ids.push(...page.businesses.map((business) => business.id));
    }
    expect(ids).toHaveLength(240);
    expect(new Set(ids).size).toBe(240);
    expect(ids.slice(0, 20)).toEqual(first.businesses.map((business) => business.id));
    const pastTheEnd = await searchPage(fixture(), SAN_FRANCISCO, 240, 50);
    expect(pastTheEnd.businesses).toEqual([]);
  });

  it('reports a total above 1000 but refuses offset + limit > 1000, as Yelp does', async () => {
    const bigCity = FIXTURE_CITIES.find((city) => (FIXTURE_BUSINESS_COUNTS[city] ?? 0) > 1000);
    expect(bigCity).toBeDefined();
    const lastPage = await searchPage(fixture(), bigCity!, 950, 50);
    expect(lastPage.total).toBe(FIXTURE_BUSINESS_COUNTS[bigCity!]);
    expect(lastPage.businesses).toHaveLength(50);
    const beyond = await yelpGet(fixture(), searchPath(bigCity!, 960, 50));
    expect(beyond.status).toBe(400);
    expect(await errorCode(beyond)).toBe('VALIDATION_ERROR');
  });

  it('validates limit and offset like the real API', async () => {
    const tooMany = await yelpGet(fixture(), searchPath(SAN_FRANCISCO, 0, 51));
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toEqual({
      error: {
        code: 'VALIDATION_ERROR',
        description: '51 is greater than the maximum of 50',
        field: 'limit',
        instance: 51,
      },
    });
    for (const query of ['limit=ten', 'limit=2.5', 'offset=-1', 'offset=1001']) {
      const response = await yelpGet(fixture(), `/businesses/search?location=Austin,%20TX&${query}`);
      expect(response.status, query).toBe(400);
      expect(await errorCode(response), query).toBe('VALIDATION_ERROR');
    }
    const noLocation = await yelpGet(fixture(), '/businesses/search?limit=5');
    expect(noLocation.status).toBe(400);
    expect(await errorCode(noLocation)).toBe('VALIDATION_ERROR');
    const defaults = await yelpGet(fixture(), '/businesses/search?location=Austin,%20TX');
    expect(searchSchema.parse(await defaults.json()).businesses).toHaveLength(20);
  });

  it('matches locations case-insensitively and trimmed; an unknown one is 400 LOCATION_NOT_FOUND', async () => {
    const canonical = await searchPage(fixture(), SAN_FRANCISCO, 0, 5);
    const sloppy = await searchPage(fixture(), '  san FRANCISCO,ca ', 0, 5);
    expect(sloppy.businesses.map((business) => business.id)).toEqual(
      canonical.businesses.map((business) => business.id),
    );
    const unknown = await yelpGet(fixture(), searchPath('Atlantis, XX', 0, 5));
    expect(unknown.status).toBe(400);
    expect(await errorCode(unknown)).toBe('LOCATION_NOT_FOUND');
  });
});

describe('Yelp business details', () => {
  const fixture = useSeededFixture();

  it('agrees with the search entry, by id and by alias', async () => {
    const page = await searchPage(fixture(), 'Chicago, IL', 30, 10);
    for (const entry of page.businesses) {
      const response = await yelpGet(fixture(), `/businesses/${entry.id}`);
      expect(response.status).toBe(200);
      const details = detailsSchema.parse(await response.json());
      expect(details).toMatchObject({
        id: entry.id,
        alias: entry.alias,
        name: entry.name,
        rating: entry.rating,
        review_count: entry.review_count,
      });
      expect(details.coordinates).toEqual(entry.coordinates);
      expect(details.location.city).toBe('Chicago');
      const byAlias = await yelpGet(fixture(), `/businesses/${encodeURIComponent(entry.alias)}`);
      expect(detailsSchema.parse(await byAlias.json()).id).toBe(entry.id);
    }
  });

  it('answers 404 BUSINESS_NOT_FOUND for an unknown id', async () => {
    const response = await yelpGet(fixture(), '/businesses/AAAAAAAAAAAAAAAAAAAAAA');
    expect(response.status).toBe(404);
    expect(await errorCode(response)).toBe('BUSINESS_NOT_FOUND');
  });

  it('needs the Bearer key: 401 without one and with a wrong one', async () => {
    const id = (await searchPage(fixture(), SAN_FRANCISCO, 0, 1)).businesses[0]!.id;
    for (const path of [`/businesses/${id}`, searchPath(SAN_FRANCISCO, 0, 1)]) {
      const missing = await yelpGet(fixture(), path, { key: null });
      expect(missing.status).toBe(401);
      expect(await errorCode(missing)).toBe('TOKEN_MISSING');
      const wrong = await yelpGet(fixture(), path, { key: 'not-the-key' });
      expect(wrong.status).toBe(401);
      expect(await errorCode(wrong)).toBe('TOKEN_INVALID');
    }
  });
});

describe('HN Algolia items', () => {
  const fixture = useSeededFixture();

  const getItem = (id: number | string): Promise<Response> => fetch(`${fixture().hnBaseUrl}/items/${id}`);

  it('answers items with the Algolia shape and consistent reply trees, no key needed', async () => {
    let withReplies: HnItemShape | undefined;
    for (let id = 1; id <= 60 && !withReplies; id++) {
      const response = await getItem(id);
      expect(response.status).toBe(200);
      const item = hnItemSchema.parse(await response.json());
      expect(item.id).toBe(id);
      expect(item.created_at).toBe(new Date(item.created_at_i * 1000).toISOString());
      if (item.type !== 'comment' && item.children.length > 0) withReplies = item;
    }
    expect(withReplies).toBeDefined();
    const story = withReplies!;
    expect(story).toMatchObject({ parent_id: null, story_id: story.id });
    for (const reply of story.children) {
      expect(reply).toMatchObject({
        type: 'comment',
        parent_id: story.id,
        story_id: story.id,
        title: null,
        points: null,
      });
      expect(reply.id).toBeGreaterThan(story.id);
      expect(reply.created_at_i).toBeGreaterThan(story.created_at_i);
    }
    const reply = hnItemSchema.parse(await (await getItem(story.children[0]!.id)).json());
    expect(reply).toEqual(story.children[0]);
    const last = await getItem(FIXTURE_HN_ITEM_COUNT);
    expect(last.status).toBe(200);
  });

  it('nests replies to replies, each child naming its parent and its story', async () => {
    let deepest = 0;
    const walk = (item: HnItemShape, storyId: number, depth: number): void => {
      deepest = Math.max(deepest, depth);
      for (const child of item.children) {
        expect(child).toMatchObject({ type: 'comment', parent_id: item.id, story_id: storyId });
        walk(child, storyId, depth + 1);
      }
    };
    for (let id = 1; id <= 200; id++) {
      const item = hnItemSchema.parse(await (await getItem(id)).json());
      if (item.parent_id === null) walk(item, item.id, 0);
    }
    expect(deepest).toBeGreaterThanOrEqual(2);
  });

  it('answers 404 {status, error} for ids that do not exist', async () => {
    for (const id of [0, FIXTURE_HN_ITEM_COUNT + 1, 'abc']) {
      const response = await getItem(id);
      expect(response.status, String(id)).toBe(404);
      expect(await response.json()).toEqual({ status: 404, error: 'Not Found' });
    }
  });
});

describe('determinism', () => {
  it('the same seed gives the same data; another seed different data', async () => {
    const snapshot = (seed: number) =>
      withFixture({ seed }, async (fixture) => ({
        ids: (await searchPage(fixture, 'Denver, CO', 0, 50)).businesses.map((business) => business.id),
        item: await (await fetch(`${fixture.hnBaseUrl}/items/777`)).json(),
      }));
    const [first, again, other] = [await snapshot(5), await snapshot(5), await snapshot(6)];
    expect(again).toEqual(first);
    expect(other.ids).not.toEqual(first.ids);
    expect(other.ids.filter((id) => first.ids.includes(id))).toEqual([]);
    expect(other.item).not.toEqual(first.item);
  });

  it('the same seed and request order give the same faults', async () => {
    const statuses = () =>
      withFixture({ seed: 9, faults: { serverErrorRate: 0.3, malformedRate: 0.2 } }, async (fixture) =>
        (await sequentialStatuses(40, (index) => fetch(`${fixture.hnBaseUrl}/items/${index + 1}`))).map(
          (response) => `${response.status}:${response.headers.get('x-fixture-fault')}`,
        ),
      );
    const [first, again] = [await statuses(), await statuses()];
    expect(again).toEqual(first);
    expect(first.some((status) => status.startsWith('5'))).toBe(true);
  });
});

describe('faults', () => {
  it('serverErrorRate 0.2 turns about a fifth of 500 requests into 500/502/503', async () => {
    await withFixture({ seed: 21, faults: { serverErrorRate: 0.2 } }, async (fixture) => {
      const responses = await sequentialStatuses(500, (index) =>
        fetch(`${fixture.hnBaseUrl}/items/${(index % 300) + 1}`),
      );
      const serverErrors = responses.filter((response) => response.status >= 500);
      expect(serverErrors.length / responses.length).toBeGreaterThanOrEqual(0.12);
      expect(serverErrors.length / responses.length).toBeLessThanOrEqual(0.28);
      expect(new Set(serverErrors.map((response) => response.status))).toEqual(new Set([500, 502, 503]));
      expect(responses.filter((response) => response.status !== 200 && response.status < 500)).toEqual([]);
      expect(fixture.stats().requests).toBe(500);
    });
  });

  it('rateLimitEvery 5 answers exactly every 5th request 429 with Retry-After', async () => {
    await withFixture({ seed: 2, faults: { rateLimitEvery: 5 } }, async (fixture) => {
      const ids = (await searchPage(fixture, 'Boston, MA', 0, 3)).businesses.map((business) => business.id);
      // The search above was request 1 of the count; restart it so the test's own requests are 1..20.
      fixture.setFaults({ rateLimitEvery: 5, retryAfterSeconds: 2 });
      const responses = await sequentialStatuses(20, (index) =>
        index % 2 === 0
          ? yelpGet(fixture, `/businesses/${ids[index % 3]}`)
          : fetch(`${fixture.hnBaseUrl}/items/${index + 1}`),
      );
      responses.forEach((response, index) => {
        const fifth = (index + 1) % 5 === 0;
        expect(response.status, `request ${index + 1}`).toBe(fifth ? 429 : 200);
        expect(response.headers.get('retry-after'), `request ${index + 1}`).toBe(fifth ? '2' : null);
      });
    });
  });

  it('failIds always answer 5xx and malformedIds always a 200 that is not JSON; other ids are untouched', async () => {
    await withFixture({ seed: 4 }, async (fixture) => {
      const [failing, malformed, healthy] = (await searchPage(fixture, 'Seattle, WA', 0, 3)).businesses.map(
        (business) => business.id,
      );
      fixture.setFaults({ failIds: [failing!, '42'], malformedIds: [malformed!, '43'] });
      for (let round = 0; round < 5; round++) {
        for (const response of [
          await yelpGet(fixture, `/businesses/${failing}`),
          await fetch(`${fixture.hnBaseUrl}/items/42`),
        ]) {
          expect(response.status).toBeGreaterThanOrEqual(500);
          await response.arrayBuffer();
        }
        for (const response of [
          await yelpGet(fixture, `/businesses/${malformed}`),
          await fetch(`${fixture.hnBaseUrl}/items/43`),
        ]) {
          expect(response.status).toBe(200);
          const text = await response.text();
          expect(() => JSON.parse(text), text).toThrow();
        }
        const fine = await yelpGet(fixture, `/businesses/${healthy}`);
        expect(detailsSchema.parse(await fine.json()).id).toBe(healthy);
        expect(hnItemSchema.parse(await (await fetch(`${fixture.hnBaseUrl}/items/44`)).json()).id).toBe(44);
      }
    });
  });

  it('malformedRate 1 makes every 200 unparseable but leaves errors alone', async () => {
    await withFixture({ seed: 8, faults: { malformedRate: 1 } }, async (fixture) => {
      for (let id = 1; id <= 12; id++) {
        const response = await fetch(`${fixture.hnBaseUrl}/items/${id}`);
        expect(response.status).toBe(200);
        const text = await response.text();
        expect(() => JSON.parse(text), text).toThrow();
      }
      const missing = await fetch(`${fixture.hnBaseUrl}/items/0`);
      expect(await missing.json()).toEqual({ status: 404, error: 'Not Found' });
    });
  });

  it('slowRate 1 delays answers past a client timeout', async () => {
    await withFixture({ seed: 1, faults: { slowRate: 1, slowMs: 300 } }, async (fixture) => {
      const slow = fetch(`${fixture.hnBaseUrl}/items/1`, { signal: AbortSignal.timeout(100) });
      await expect(slow).rejects.toMatchObject({ name: 'TimeoutError' });
      fixture.setFaults({});
      const prompt = await fetch(`${fixture.hnBaseUrl}/items/1`, { signal: AbortSignal.timeout(10_000) });
      expect(prompt.status).toBe(200);
    });
  });

  it('invalidRecordRate 1 answers JSON that breaks the schema; 0 answers JSON that keeps it', async () => {
    await withFixture({ seed: 12 }, async (fixture) => {
      const page = await searchPage(fixture, 'Portland, OR', 0, 10);
      const check = async (): Promise<boolean[]> => {
        const outcomes: boolean[] = [];
        for (let round = 0; round < 8; round++) {
          const search = await yelpGet(fixture, searchPath('Portland, OR', 0, 10));
          outcomes.push(searchSchema.safeParse(await search.json()).success);
          const details = await yelpGet(fixture, `/businesses/${page.businesses[round]!.id}`);
          outcomes.push(detailsSchema.safeParse(await details.json()).success);
          const item = await fetch(`${fixture.hnBaseUrl}/items/${100 + round}`);
          expect(item.status).toBe(200);
          outcomes.push(hnItemSchema.safeParse(await item.json()).success);
        }
        return outcomes;
      };
      fixture.setFaults({ invalidRecordRate: 1 });
      expect(await check()).toEqual(new Array(24).fill(false));
      fixture.setFaults({ invalidRecordRate: 0 });
      expect(await check()).toEqual(new Array(24).fill(true));
    });
  });

  it('rejects fault options out of range', async () => {
    await withFixture({}, async (fixture) => {
      expect(() => fixture.setFaults({ serverErrorRate: 1.5 })).toThrow(/serverErrorRate/);
      expect(() => fixture.setFaults({ rateLimitEvery: 0 })).toThrow(/rateLimitEvery/);
    });
  });
});

describe('stats', () => {
  it('maxConcurrent counts overlapping requests: 8 at once, 1 one after another', async () => {
    await withFixture({ latencyMs: 100 }, async (fixture) => {
      await Promise.all(
        Array.from({ length: 8 }, (_, index) =>
          fetch(`${fixture.hnBaseUrl}/items/${index + 1}`).then((response) => response.json()),
        ),
      );
      expect(fixture.stats().maxConcurrent).toBeGreaterThanOrEqual(8);

      fixture.resetStats();
      fixture.setLatency(0);
      await sequentialStatuses(6, (index) => fetch(`${fixture.hnBaseUrl}/items/${index + 1}`));
      expect(fixture.stats().maxConcurrent).toBe(1);
    });
  });

  it('counts requests by status and route pattern, not /health; unknown paths are 404 JSON', async () => {
    await withFixture({}, async (fixture) => {
      const health = await fetch(`${fixture.baseUrl}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ ok: true });
      await (await fetch(`${fixture.hnBaseUrl}/items/5`)).arrayBuffer();
      await (await fetch(`${fixture.hnBaseUrl}/items/6`)).arrayBuffer();
      await (await yelpGet(fixture, '/businesses/nope')).arrayBuffer();
      const other = await fetch(`${fixture.baseUrl}/v2/whatever`);
      expect(other.status).toBe(404);
      expect(await errorCode(other)).toBe('NOT_FOUND');
      expect(fixture.stats()).toEqual({
        requests: 4,
        byStatus: { '200': 2, '404': 2 },
        byPath: { '/api/v1/items/{id}': 2, '/v3/businesses/{id}': 1, other: 1 },
        maxConcurrent: 1,
      });
    });
  });
});

describe('stats over HTTP (the fixture in a process of its own)', () => {
  it('GET /__fixture/stats reports what the process saw; POST …/reset zeroes it; neither is counted or delayed', async () => {
    const child = await spawnApiFixtureProcess({ latencyMs: 200 });
    const { baseUrl, hnBaseUrl } = child.ready;
    try {
      const statsOf = async (response: Promise<Response>): Promise<unknown> => {
        const answered = await response;
        expect(answered.status).toBe(200);
        return answered.json();
      };
      await Promise.all(
        [1, 2, 3].map((id) => fetch(`${hnBaseUrl}/items/${id}`).then((response) => response.arrayBuffer())),
      );
      const started = performance.now();
      expect(await statsOf(fetch(`${baseUrl}${STATS_PATH}`))).toEqual({
        requests: 3,
        byStatus: { '200': 3 },
        byPath: { '/api/v1/items/{id}': 3 },
        maxConcurrent: 3,
      });
      // The reset answers the zeroed stats; then only the one item request after it counts.
      expect(await statsOf(fetch(`${baseUrl}${STATS_RESET_PATH}`, { method: 'POST' }))).toEqual({
        requests: 0,
        byStatus: {},
        byPath: {},
        maxConcurrent: 0,
      });
      expect(performance.now() - started).toBeLessThan(200); // neither control request waited out the latency
      await (await fetch(`${hnBaseUrl}/items/4`)).arrayBuffer();
      expect(await statsOf(fetch(`${baseUrl}${STATS_PATH}`))).toMatchObject({ requests: 1, byStatus: { '200': 1 } });

      const wrongMethod = await fetch(`${baseUrl}${STATS_RESET_PATH}`);
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('POST');
      expect(await errorCode(wrongMethod)).toBe('METHOD_NOT_ALLOWED');
      expect(await statsOf(fetch(`${baseUrl}${STATS_PATH}`))).toMatchObject({ requests: 1 });
    } finally {
      expect(await child.close()).toBe(0);
    }
  });
});

describe('CLI', () => {
  it('parses its options, fault JSON included, and rejects bad values', () => {
    expect(
      parseCliArgs([
        '--port',
        '0',
        '--seed',
        '7',
        '--latency-ms',
        '20',
        '--faults',
        '{"serverErrorRate":0.1,"rateLimitEvery":20}',
      ]),
    ).toEqual({
      port: 0,
      seed: 7,
      latencyMs: 20,
      faults: { serverErrorRate: 0.1, rateLimitEvery: 20 },
      silent: false,
    });
    expect(() => parseCliArgs(['--faults', '{"serverErrorRate":2}'])).toThrow(/serverErrorRate/);
    expect(() => parseCliArgs(['--faults', '{"typo":1}'])).toThrow(/typo/);
    expect(() => parseCliArgs(['--faults', 'not json'])).toThrow(/JSON/);
    expect(() => parseCliArgs(['--latency-ms', '-5'])).toThrow(/latency-ms/);
  });

  it('prints one JSON line when ready, answers /health, and exits 0 on SIGTERM', async () => {
    const entry = fileURLToPath(new URL('../../../local-stack/api-fixture/main.ts', import.meta.url));
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const child = spawn(process.execPath, ['--import', tsx, entry, '--port', '0', '--seed', '3', '--latency-ms', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines: string[] = [];
    const firstLine = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        resolve(line);
      });
      child.once('exit', (code) => reject(new Error(`fixture exited (${code}) before it was ready:\n${stderr}`)));
    });
    try {
      const ready = z
        .object({ baseUrl: z.url(), yelpBaseUrl: z.url(), hnBaseUrl: z.url(), apiKey: z.string().min(1) })
        .parse(JSON.parse(await firstLine));
      expect(ready.yelpBaseUrl).toBe(`${ready.baseUrl}/v3`);
      expect(ready.hnBaseUrl).toBe(`${ready.baseUrl}/api/v1`);
      const health = await fetch(`${ready.baseUrl}/health`);
      expect(await health.json()).toEqual({ ok: true });
      const search = await fetch(`${ready.yelpBaseUrl}/businesses/search?location=Miami,%20FL&limit=1`, {
        headers: { authorization: `Bearer ${ready.apiKey}` },
      });
      expect(searchSchema.parse(await search.json()).businesses).toHaveLength(1);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(lines).toHaveLength(1);
    expect(stderr).toContain('/v3/businesses/search');
  });
});
