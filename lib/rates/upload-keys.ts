/**
 * Where a rates run's files live in the bucket and how an upload names its options: the keys and S3 metadata that
 * the job, the CLI, the dashboard and the EC2 path share. Kept apart from job.ts so that a client (the CLI uploading
 * a file) loads these names without the job itself (the CSV core, the chart renderer).
 */
import { GZIP_SUFFIX } from './gzip-input.ts';
import { SPLIT_METADATA } from './split.ts';

/** Uploads live here; only objects under it trigger the job. Results go elsewhere so a run never re-triggers itself. */
export const UPLOADS_PREFIX = 'uploads/';
export const RESULTS_PREFIX = 'results/';

/** S3 user metadata (x-amz-meta-*) that a client may set on an upload to choose this run's options. */
export const METADATA = {
  numerator: 'numerator',
  denominator: 'denominator',
  bins: 'bins',
  runId: 'run-id',
  // How to split the run: `workers`, `chunk-bytes` (split.ts reads them back, and names them for the CLI's checks).
  ...SPLIT_METADATA,
} as const;

/**
 * `uploads/2024/counties.csv` → `results/2024/counties/`; null when the key is not an upload. A `.` or `..` path
 * segment (`uploads/../uploads/x.csv`) is refused too: S3 keeps such keys as they are, but an HTTP stack or an
 * S3-compatible server that resolves them would put the results outside `results/` — even back under `uploads/`.
 *
 * A gzip-compressed upload, `uploads/<name>.csv.gz`, has the same results as `uploads/<name>.csv`: both are the same
 * data to whoever reads `results/<name>/`. When both are uploaded they share that prefix, and it holds the outputs of
 * whichever run committed last; summary.json's `input.key` (and `input.compression`) says which upload they are of.
 */
export function resultPrefixFor(key: string): string | null {
  const suffix = isCompressedUpload(key) ? GZIP_SUFFIX : '.csv';
  if (!key.startsWith(UPLOADS_PREFIX) || !key.endsWith(suffix)) return null;
  const name = key.slice(UPLOADS_PREFIX.length, -suffix.length);
  if (name === '' || name.endsWith('/')) return null;
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) return null;
  return `${RESULTS_PREFIX}${name}/`;
}

/** True for a key the job reads through gunzip (`<name>.csv.gz`); the suffix alone decides, as for `.csv`. */
export function isCompressedUpload(key: string): boolean {
  return key.endsWith(GZIP_SUFFIX);
}
