/**
 * `cloud-parallel dashboard --stage`: what it would send to AWS, without sending it. The dashboard is started on
 * port 0 with the services the command builds, and each SDK client gets a middleware that records the finished
 * request (endpoint, path, target, body) and stops it before the network. Also: read-only unless --allow-runs (no
 * form, every POST 403), and protected like the local dashboard (the per-start token, 401 without it).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DashboardRequest } from '../../cli/args/dashboard.ts';
import { type StageDashboard, stageDashboardServices } from '../../cli/dashboard.ts';
import { READ_ONLY_MESSAGE, type RunningDashboard, startDashboard } from '../../dashboard/server.ts';
import { useLocalMongo } from '../support/scrape.ts';

const { server: mongo } = useLocalMongo('dashboard_stage');

const TOKEN = 't'.repeat(43);
const STOPPED = 'stopped by the test before the network';

interface Sent {
  client: string;
  hostname: string;
  protocol: string;
  method: string;
  path: string;
  query: Record<string, unknown>;
  target: string | undefined;
  body: string;
}

/** The parts of the SDK's HttpRequest read here. */
interface BuiltRequest {
  hostname: string;
  protocol: string;
  method: string;
  path: string;
  query: Record<string, unknown>;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

type Middleware = () => (args: { request: unknown }) => Promise<never>;

/** Records every request `client` finishes building, and fails it there: nothing leaves the process. */
function recordRequests(stage: StageDashboard, sent: Sent[]): void {
  for (const [name, client] of Object.entries(stage.clients)) {
    // The three clients' stacks differ only in their command types, which a build-step recorder does not read.
    (client.middlewareStack as unknown as { add(m: Middleware, o: object): void }).add(
      () => async (args) => {
        const request = args.request as BuiltRequest;
        sent.push({
          client: name,
          hostname: request.hostname,
          protocol: request.protocol,
          method: request.method,
          path: request.path,
          query: request.query,
          target: request.headers['x-amz-target'],
          body:
            request.body === undefined
              ? ''
              : typeof request.body === 'string'
                ? request.body
                : new TextDecoder().decode(request.body),
        });
        throw new Error(STOPPED);
      },
      { step: 'build', priority: 'low', name: 'recordAndStop' },
    );
  }
}

const request = (extra: Partial<DashboardRequest> = {}): DashboardRequest => ({
  stage: 'test',
  region: 'eu-west-1',
  port: 0,
  allowRuns: false,
  ...extra,
});

let running: { dashboard: RunningDashboard; stage: StageDashboard } | undefined;

async function start(
  req: DashboardRequest,
  sent: Sent[],
): Promise<{ stage: StageDashboard; base: string; cookie: string }> {
  const stage = await stageDashboardServices(req, process.env);
  recordRequests(stage, sent);
  const dashboard = await startDashboard({ port: 0, host: '127.0.0.1', token: TOKEN, services: stage.services });
  running = { dashboard, stage };
  const base = dashboard.url;
  const login = await fetch(`${base}/?token=${TOKEN}`, { redirect: 'manual' });
  expect(login.status).toBe(303);
  return { stage, base, cookie: login.headers.get('set-cookie')!.split(';')[0]! };
}

beforeEach(() => {
  // As on a laptop with AWS credentials and nothing pointing the SDK elsewhere.
  for (const name of Object.keys(process.env))
    if (name.startsWith('AWS_ENDPOINT_URL') || name === 'S3_FORCE_PATH_STYLE' || name.startsWith('MONGODB_'))
      vi.stubEnv(name, undefined);
  vi.stubEnv('AWS_REGION', undefined);
  vi.stubEnv('AWS_DEFAULT_REGION', undefined);
  vi.stubEnv('AWS_PROFILE', undefined);
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/aws-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/aws-credentials');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');
});

afterEach(async () => {
  await running?.dashboard.close();
  await running?.stage.close();
  running = undefined;
  vi.unstubAllEnvs();
});

describe('cloud-parallel dashboard --stage', () => {
  it('names the stage’s resources as serverless.yml does, in the region asked for', async () => {
    const stage = await stageDashboardServices(request(), process.env);
    try {
      expect(stage.services.bucket).toBe('cloud-parallel-test-eu-west-1-data');
      expect(stage.names.functionName('scrape')).toBe('cloud-parallel-test-scrape');
      for (const client of Object.values(stage.clients)) expect(await client.config.region()).toBe('eu-west-1');
    } finally {
      await stage.close();
    }
    const overridden = await stageDashboardServices(request({ bucket: 'acme-cp-data' }), process.env);
    expect(overridden.services.bucket).toBe('acme-cp-data');
    await overridden.close();
  });

  it('without --region and with no region configured, uses serverless.yml’s default, us-east-1', async () => {
    const { region: _, ...noRegion } = request();
    const stage = await stageDashboardServices(noRegion, process.env);
    try {
      expect(stage.names.region).toBe('us-east-1');
      expect(stage.services.bucket).toBe('cloud-parallel-test-us-east-1-data');
      expect(await stage.clients.lambda.config.region()).toBe('us-east-1');
    } finally {
      await stage.close();
    }
  });

  it('reads the stage’s data bucket from S3 and MongoDB’s URI from its SSM parameter, at AWS’s regional endpoints', async () => {
    const sent: Sent[] = [];
    const { base, cookie } = await start(request(), sent);
    const data = await fetch(`${base}/data`, { headers: { cookie } });
    expect(data.status).toBe(500);
    expect(await data.text()).toContain(STOPPED);
    expect(sent).toEqual([
      expect.objectContaining({
        client: 's3',
        protocol: 'https:',
        hostname: 'cloud-parallel-test-eu-west-1-data.s3.eu-west-1.amazonaws.com',
        method: 'GET',
        query: expect.objectContaining({ 'list-type': '2', prefix: 'uploads/' }),
      }),
    ]);

    sent.length = 0;
    const scrapes = await (await fetch(`${base}/scrapes`, { headers: { cookie } })).text();
    expect(scrapes).toMatch(/could not read the SSM parameter \/cloud-parallel\/test\/mongodb-uri/);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      client: 'ssm',
      protocol: 'https:',
      hostname: 'ssm.eu-west-1.amazonaws.com',
      method: 'POST',
      target: 'AmazonSSM.GetParameter',
    });
    expect(JSON.parse(sent[0]!.body)).toEqual({ Name: '/cloud-parallel/test/mongodb-uri', WithDecryption: true });
  });

  it('is read-only without --allow-runs: no form, and every POST is answered 403 with why', async () => {
    vi.stubEnv('MONGODB_URI', mongo().uri);
    const sent: Sent[] = [];
    const { base, cookie } = await start(request(), sent);
    const page = await (await fetch(`${base}/scrapes`, { headers: { cookie } })).text();
    expect(page).toContain('Read-only');
    expect(page).not.toContain('id="scrape-form"');
    const origin = base;
    for (const path of ['/scrapes/runs', '/data/uploads?name=x.csv']) {
      const post = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { cookie, origin, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'source=hn&ids=1-3',
      });
      expect(post.status, path).toBe(403);
      expect(await post.json()).toEqual({ error: READ_ONLY_MESSAGE });
    }
    expect(sent.filter((request) => request.client !== 's3')).toEqual([]);
  });

  it('with --allow-runs, the form invokes cloud-parallel-<stage>-scrape at Lambda’s regional endpoint', async () => {
    vi.stubEnv('MONGODB_URI', mongo().uri);
    const sent: Sent[] = [];
    const { base, cookie } = await start(request({ allowRuns: true }), sent);
    expect(await (await fetch(`${base}/scrapes`, { headers: { cookie } })).text()).toContain('id="scrape-form"');
    const post = await fetch(`${base}/scrapes/runs`, {
      method: 'POST',
      headers: {
        cookie,
        origin: base,
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'source=hn&ids=1-3',
    });
    expect(post.status).toBe(202);
    const { location } = (await post.json()) as { location: string };
    await vi.waitFor(() => expect(sent.some((request) => request.client === 'lambda')).toBe(true));
    expect(sent.find((request) => request.client === 'lambda')).toMatchObject({
      protocol: 'https:',
      hostname: 'lambda.eu-west-1.amazonaws.com',
      method: 'POST',
      path: '/2015-03-31/functions/cloud-parallel-test-scrape/invocations',
      body: JSON.stringify({ source: 'hn', ids: [1, 2, 3] }),
    });
    // The page says in words that the invocation failed (here: it never left).
    await vi.waitFor(async () =>
      expect(await (await fetch(`${base}${location}`, { headers: { cookie } })).text()).toContain(
        `The scrape of 3 items on Hacker News failed (Error): ${STOPPED}`,
      ),
    );
  });

  it('serves loopback only and refuses a request without the token', async () => {
    const { base } = await start(request(), []);
    const url = new URL(base);
    expect(url.hostname).toBe('127.0.0.1');
    expect((await fetch(`${base}/scrapes`)).status).toBe(401);
    expect((await fetch(`${base}/?token=${'x'.repeat(43)}`, { redirect: 'manual' })).status).toBe(403);
  });
});
