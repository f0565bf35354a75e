/**
 * Secrets (issue 7): none in code, config, events or history.
 *
 * Scans with secretlint's Node engine (`createEngine` from @secretlint/node, the library the `secretlint` CLI is built on)
 * configured by `.secretlintrc.json`: the recommended preset (AWS, GCP, private keys, npm, Slack, SendGrid, Shopify, GitHub,
 * OpenAI, Anthropic, Linear, 1Password, basic auth in URLs, MongoDB/MySQL/PostgreSQL URIs with a password), with the AWS rule's
 * `enableIDScanRule` on so a bare access key ID (AKIA…/ASIA…) or account ID is flagged too, not only `AWS_SECRET_ACCESS_KEY=…`.
 * No rule is disabled and no value is allow-listed: the AWS docs example pair (AKIAIOSFODNN7EXAMPLE / wJalr…EXAMPLEKEY) is
 * already ignored by the rule itself, and the local stack's dummy credentials (`local`, `test`) are too short to match anything.
 * If a deliberate fake value ever needs letting through, add exactly that value to the rule's `options.allows` and say why here.
 *
 * On top of the preset, two checks for this project's own secrets (see `projectFindings`): Yelp Fusion API keys (a 128-char
 * `[A-Za-z0-9_-]` token) and MongoDB URIs carrying a password.
 *
 * What is scanned: every text file git tracks or would track (untracked, not ignored), and every blob reachable from any ref
 * in the history (minus those identical to a file already scanned). Reports name file/blob, line and rule; secrets are masked.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine } from '@secretlint/node';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const MAX_BYTES = 4 * 1024 * 1024;

type Engine = Awaited<ReturnType<typeof createEngine>>;
type Finding = { where: string; line: number; column: number; ruleId: string; messageId: string; message: string };

const git = (cwd: string, args: string[], input?: string): Buffer =>
  execFileSync('git', args, { cwd, input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });

/** Same heuristic as git: a NUL byte in the first 8000 bytes means binary. */
const isBinary = (buf: Buffer): boolean => buf.subarray(0, 8000).includes(0);

const lineCol = (text: string, index: number): { line: number; column: number } => {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, column: index - before.lastIndexOf('\n') };
};

const maskToken = (s: string): string => `${s.slice(0, 4)}…(${s.length} chars)`;

// ---------------------------------------------------------------------------------------------------------
// Project-specific checks
// ---------------------------------------------------------------------------------------------------------

/** A Yelp Fusion API key is a 128-char `[A-Za-z0-9_-]` token; anything of 100+ such chars in a literal or `KEY=value` counts. */
const LONG_TOKEN = [
  /(["'`])([A-Za-z0-9_-]{100,})\1/g, // string literal
  /\b[A-Za-z_][\w.-]*\s*[=:]\s*["'`]?([A-Za-z0-9_-]{100,})(?![\w-])/g, // KEY=value, key: value
];
/** Real tokens are random; `-----…` separators and `aaaa…` runs are not. */
const looksRandom = (s: string): boolean => /[A-Za-z]/.test(s) && /\d/.test(s) && new Set(s).size >= 16;

const MONGO_URI_WITH_PASSWORD = /mongodb(?:\+srv)?:\/\/([^/\s:@'"`]+):([^@\s/'"`]+)@/g;
const PLACEHOLDER_PASSWORD =
  /^(?:<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%[A-Z_]+%|\*+|x+|\.\.\.|…|pass(?:word)?|secret|changeme|redacted|local|test|example)$/i;

/** Built from parts so this file does not match itself. */
const DISABLE_COMMENT = new RegExp(['secret', 'lint-disable'].join(''), 'g');

const projectFindings = (text: string, where: string): Finding[] => {
  const out: Finding[] = [];
  const seen = new Set<number>();
  for (const re of LONG_TOKEN) {
    for (const m of text.matchAll(re)) {
      const token = m[2] ?? m[1] ?? '';
      const index = (m.index ?? 0) + m[0].indexOf(token);
      if (!looksRandom(token) || seen.has(index)) continue;
      seen.add(index);
      out.push({
        where,
        ...lineCol(text, index),
        ruleId: 'cloud-parallel/api-key-token',
        messageId: 'LongToken',
        message: `found a ${token.length}-char token (Yelp API key?): ${maskToken(token)}`,
      });
    }
  }
  for (const m of text.matchAll(MONGO_URI_WITH_PASSWORD)) {
    const [, user = '', password = ''] = m;
    if (PLACEHOLDER_PASSWORD.test(password)) continue;
    const scheme = m[0].slice(0, m[0].indexOf('//') + 2);
    out.push({
      where,
      ...lineCol(text, m.index ?? 0),
      ruleId: 'cloud-parallel/mongodb-password',
      messageId: 'MongoDBPassword',
      message: `found a MongoDB URI with a password: ${scheme}${user}:${'*'.repeat(password.length)}@…`,
    });
  }
  // secretlint honours in-source disable comments; one next to a real key would hide it from the preset.
  for (const m of text.matchAll(DISABLE_COMMENT)) {
    out.push({
      where,
      ...lineCol(text, m.index ?? 0),
      ruleId: 'cloud-parallel/no-disable-comments',
      messageId: 'DisableComment',
      message: 'a secretlint disable comment: allow exact values in .secretlintrc.json instead',
    });
  }
  return out;
};

// ---------------------------------------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------------------------------------

type SecretlintMessage = {
  ruleId: string;
  messageId: string;
  message: string;
  loc: { start: { line: number; column: number } };
};

/** secretlint (masked, via the json formatter) + the project checks, for one text. */
const scanText = async (engine: Engine, text: string, where: string, filePath = where): Promise<Finding[]> => {
  const { ok, output } = await engine.executeOnContent({ content: text, filePath });
  const fromSecretlint = ok
    ? []
    : (JSON.parse(output) as { messages: SecretlintMessage[] }[]).flatMap((r) =>
        r.messages.map((m) => ({
          where,
          line: m.loc.start.line,
          column: m.loc.start.column + 1,
          ruleId: m.ruleId,
          messageId: m.messageId,
          message: m.message.length > 120 ? `${m.message.slice(0, 117)}...` : m.message,
        })),
      );
  return [...fromSecretlint, ...projectFindings(text, where)];
};

const gitBlobId = (buf: Buffer): string => createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');

/** Tracked files plus untracked-but-not-ignored ones, as they are on disk now. Returns findings and the blob ids scanned. */
const scanWorkingTree = async (
  engine: Engine,
  root: string,
): Promise<{ findings: Finding[]; scanned: number; blobIds: Set<string> }> => {
  const list = (args: string[]) =>
    git(root, ['ls-files', '-z', ...args])
      .toString('utf8')
      .split('\0')
      .filter(Boolean);
  const files = [...new Set([...list([]), ...list(['--others', '--exclude-standard'])])];
  const findings: Finding[] = [];
  const blobIds = new Set<string>();
  let scanned = 0;
  for (const file of files) {
    let buf: Buffer;
    try {
      const st = lstatSync(path.join(root, file));
      if (!st.isFile() || st.size > MAX_BYTES) continue;
      buf = readFileSync(path.join(root, file));
    } catch {
      continue; // deleted in the working tree, or being rewritten by someone else right now
    }
    blobIds.add(gitBlobId(buf));
    if (isBinary(buf)) continue;
    scanned += 1;
    findings.push(...(await scanText(engine, buf.toString('utf8'), file, path.join(root, file))));
  }
  return { findings, scanned, blobIds };
};

/** Every blob reachable from any ref, deduplicated, skipping `skip` (already scanned as working-tree files). */
const scanHistory = async (
  engine: Engine,
  root: string,
  skip = new Set<string>(),
): Promise<{ findings: Finding[]; scanned: number }> => {
  const pathOf = new Map<string, string>();
  for (const line of git(root, ['rev-list', '--all', '--objects']).toString('utf8').split('\n')) {
    const [id, ...name] = line.split(' ');
    if (id && !pathOf.has(id)) pathOf.set(id, name.join(' '));
  }
  const check = git(
    root,
    ['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'],
    `${[...pathOf.keys()].join('\n')}\n`,
  );
  const blobs = check
    .toString('utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter(([id, type, size]) => id && type === 'blob' && Number(size) <= MAX_BYTES && !skip.has(id))
    .map(([id]) => id as string);
  if (blobs.length === 0) return { findings: [], scanned: 0 };

  const batch = git(root, ['cat-file', '--batch'], `${blobs.join('\n')}\n`);
  const findings: Finding[] = [];
  let scanned = 0;
  let pos = 0;
  while (pos < batch.length) {
    const eol = batch.indexOf(10, pos);
    const [id = '', , size = '0'] = batch.subarray(pos, eol).toString('utf8').split(' ');
    const body = batch.subarray(eol + 1, eol + 1 + Number(size));
    pos = eol + 1 + Number(size) + 1; // content is followed by a newline
    if (isBinary(body)) continue;
    scanned += 1;
    const name = pathOf.get(id) || '(unnamed)';
    const found = await scanText(engine, body.toString('utf8'), `${name} @ blob ${id.slice(0, 10)}`, name);
    if (found.length > 0) {
      const commits = git(root, ['log', '--all', '--format=%h', `--find-object=${id}`])
        .toString('utf8')
        .trim()
        .split('\n')
        .join(', ');
      findings.push(...found.map((f) => ({ ...f, where: `${f.where} (commits: ${commits})` })));
    }
  }
  return { findings, scanned };
};

const formatFindings = (findings: Finding[]): string =>
  findings.map((f) => `${f.where}:${f.line}:${f.column}  ${f.ruleId} [${f.messageId}]  ${f.message}`).join('\n');

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

describe('secrets', () => {
  let engine: Engine;
  let treeBlobs = new Set<string>();

  beforeAll(async () => {
    engine = await createEngine({
      cwd: ROOT,
      configFilePath: path.join(ROOT, '.secretlintrc.json'),
      formatter: 'json',
      color: false,
      maskSecrets: true,
    });
  });

  it('config keeps every rule of the recommended preset on (only exact values may be allowed)', () => {
    const config = readFileSync(path.join(ROOT, '.secretlintrc.json'), 'utf8');
    expect(config).toContain('@secretlint/secretlint-rule-preset-recommend');
    expect(config).not.toMatch(/"disabled"|"allowMessageIds"/);
  });

  it('no tracked or untracked-but-not-ignored file contains anything that looks like a key', async () => {
    const { findings, scanned, blobIds } = await scanWorkingTree(engine, ROOT);
    treeBlobs = blobIds;
    expect(scanned).toBeGreaterThan(10);
    expect(findings, `possible secrets in the working tree:\n${formatFindings(findings)}`).toEqual([]);
  });

  it('no blob anywhere in the git history contains anything that looks like a key', async () => {
    const { findings } = await scanHistory(engine, ROOT, treeBlobs);
    expect(
      findings,
      `possible secrets in git history (rewrite it and rotate the secret):\n${formatFindings(findings)}`,
    ).toEqual([]);
  });

  describe('the check can fail', () => {
    // Built at run time so none of these literals is ever in the repo.
    const accessKeyId = 'AKIA' + 'Z7QW' + 'M2XK' + 'P4RT' + 'L9VB';
    const secretKey = `${randomBytes(30).toString('base64').slice(0, 39)}K`; // 40 chars of [A-Za-z0-9+/], ending in a word char
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const password = 's3' + 'cr3t';
    const mongoUri = `mongodb+srv://app:${password}@cluster0.example.mongodb.net/scrape?retryWrites=true`;
    const token = randomBytes(96).toString('base64url'); // 128 chars of [A-Za-z0-9_-]
    const synthetic = [
      `export const awsAccessKeyId = '${accessKeyId}';`,
      `aws_secret_access_key = ${secretKey}`,
      pem,
      `const uri = "${mongoUri}";`,
      `YELP_API_KEY=${token}`,
      `const headers = { Authorization: 'Bearer ' + '${token}' };`,
    ].join('\n');

    it('reports a fake AWS key pair, a private key, a MongoDB password and a 128-char token, all masked', async () => {
      const findings = await scanText(engine, synthetic, 'synthetic/leak.ts');
      const hits = findings.map((f) => `${f.line} ${f.ruleId} ${f.messageId}`);
      expect(hits).toEqual(
        expect.arrayContaining([
          '1 @secretlint/secretlint-rule-aws AWSAccessKeyID',
          '2 @secretlint/secretlint-rule-aws AWSSecretAccessKey',
          '3 @secretlint/secretlint-rule-privatekey PrivateKey',
          expect.stringMatching(/ @secretlint\/secretlint-rule-database-connection-string MongoDBConnection$/),
          expect.stringMatching(/ cloud-parallel\/mongodb-password MongoDBPassword$/),
          expect.stringMatching(/ cloud-parallel\/api-key-token LongToken$/),
        ]),
      );
      expect(findings.filter((f) => f.ruleId === 'cloud-parallel/api-key-token')).toHaveLength(2);

      const report = formatFindings(findings);
      expect(report).toContain('synthetic/leak.ts:1:');
      for (const secret of [accessKeyId, secretKey, pem.split('\n')[1]!, password, token])
        expect(report).not.toContain(secret);
    });

    it('reports an in-source disable comment, which would hide a key from the preset', async () => {
      const findings = await scanText(
        engine,
        `// ${['secret', 'lint-disable'].join('')}\nconst x = 1;\n`,
        'synthetic.ts',
        path.join(ROOT, 'synthetic.ts'),
      );
      expect(findings.map((f) => f.ruleId)).toContain('cloud-parallel/no-disable-comments');
    });

    it('leaves placeholders, dummy local credentials and separator lines alone', async () => {
      const benign = [
        "AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'test'",
        'mongodb://user:pass@example.com:27017/db and mongodb://127.0.0.1:27017/scrape',
        `// ${'-'.repeat(105)}`,
        `const s = '${'a'.repeat(128)}';`,
      ].join('\n');
      expect(await scanText(engine, benign, 'synthetic/benign.ts')).toEqual([]);
      // secretlint itself flags `<user>:<password>` (add an exact `allows` entry if docs ever need it); the project check does not.
      expect(
        projectFindings('MONGODB_URI=mongodb+srv://<user>:' + '<password>@cluster0.example.mongodb.net', 'x'),
      ).toEqual([]);
    });

    it('finds a secret that was committed and later deleted (history scan)', async () => {
      const repo = mkdtempSync(path.join(tmpdir(), 'secrets-history-'));
      try {
        const g = (...args: string[]) =>
          git(repo, ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'commit.gpgsign=false', ...args]);
        g('init', '-q');
        writeFileSync(path.join(repo, 'config.env'), `MONGODB_URI=${mongoUri}\n`);
        g('add', '.');
        g('commit', '-q', '-m', 'oops');
        writeFileSync(path.join(repo, 'config.env'), 'MONGODB_URI=\n');
        g('commit', '-q', '-am', 'remove the secret');

        const tree = await scanWorkingTree(engine, repo);
        expect(tree.findings).toEqual([]);
        const history = await scanHistory(engine, repo, tree.blobIds);
        expect(history.scanned).toBe(1);
        const report = formatFindings(history.findings);
        expect(report).toMatch(
          /^config\.env @ blob [0-9a-f]{10} \(commits: [0-9a-f, ]+\):1:\d+ {2}@secretlint\/secretlint-rule-database-connection-string/m,
        );
        expect(report).toContain('cloud-parallel/mongodb-password');
        expect(report).not.toContain(password);
      } finally {
        rmSync(repo, { recursive: true, force: true });
      }
    });
  });
});
