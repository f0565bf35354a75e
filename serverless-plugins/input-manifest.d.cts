// Types for input-manifest.cjs, which stays plain CommonJS because the framework loads the plugins that use it.
export function hashFile(file: string): string;
export function writeManifest(root: string, manifest: string, files: string[], key?: string): void;
export function manifestHolds(root: string, manifest: string, key?: string): boolean;
export type ManifestMismatch = { kind: 'no-manifest' | 'other-key' } | { kind: 'gone' | 'changed'; file: string };
export function manifestMismatch(
  root: string,
  manifest: string,
  key?: string,
  options?: { trustStat?: boolean },
): ManifestMismatch | null;
