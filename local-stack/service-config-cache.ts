/**
 * The resolved service configuration, kept in the stack's state folder between starts: `sls print` loads the whole
 * framework and costs ~1.8 s (more on a busy machine) of every `local start`, for an answer that changes only when
 * its inputs do. The key hashes every input the answer can depend on — serverless.yml, the local plugins, the
 * lockfile (the framework's and plugins' versions), the stage, and the environment variables serverless.yml reads
 * with `${env:…}` — so a change to any of them means a fresh `sls print`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readJsonFile } from './shared/json-file.ts';
import { loadServiceConfig, PROJECT_ROOT, type ServiceConfig } from './service-config.ts';

const CACHE_FILE = 'service-config.json';
/** Bumped when the cached shape changes, so an older file is never read as the new one. */
const FORMAT = 1;

interface CacheOptions {
  stateDir: string;
  stage?: string | undefined;
  /** The project whose serverless.yml is read (the tests point it at a scratch copy). */
  root?: string;
  env?: NodeJS.ProcessEnv;
  load?: (options: { stage?: string; cwd?: string }) => Promise<ServiceConfig>;
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    // A missing input hashes as absent (a project without local plugins); anything else is a real failure.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '\0missing';
    throw error;
  }
}

function pluginFiles(root: string): string[] {
  try {
    return readdirSync(path.join(root, 'serverless-plugins'))
      .sort()
      .map((name) => path.join('serverless-plugins', name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The hash of everything `sls print` reads for this project and stage. */
export function serviceConfigKey(root: string, stage: string | undefined, env: NodeJS.ProcessEnv): string {
  const hash = createHash('sha256').update(`format ${FORMAT}\0stage ${stage ?? ''}\0`);
  const yml = readOrEmpty(path.join(root, 'serverless.yml'));
  for (const file of ['serverless.yml', 'package.json', 'package-lock.json', ...pluginFiles(root)]) {
    hash
      .update(`${file}\0`)
      .update(file === 'serverless.yml' ? yml : readOrEmpty(path.join(root, file)))
      .update('\0');
  }
  const variables = [...new Set([...yml.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1]!))];
  for (const name of variables.sort()) hash.update(`env ${name}=${env[name] ?? '\0unset'}\0`);
  return hash.digest('hex');
}

/** The service configuration: from the state folder when its key still matches, else from `sls print` (then saved). */
export async function loadCachedServiceConfig(options: CacheOptions): Promise<ServiceConfig> {
  const { stateDir, stage, root = PROJECT_ROOT, env = process.env, load = loadServiceConfig } = options;
  const key = serviceConfigKey(root, stage, env);
  const file = path.join(stateDir, CACHE_FILE);
  const cached = readJsonFile(file) as { key?: unknown; config?: ServiceConfig } | undefined;
  if (cached?.key === key && cached.config !== undefined) return cached.config;
  const config = await load({ ...(stage ? { stage } : {}), cwd: root });
  mkdirSync(stateDir, { recursive: true });
  // Written whole and renamed: a start cut short leaves the old file or the new one, never half of one.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ key, config }, null, 2)}\n`);
  renameSync(temporary, file);
  return config;
}
