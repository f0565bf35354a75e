// Types for input-manifest.cjs, which stays plain CommonJS because the framework loads the plugins that use it.
export function hashFile(file: string): string;
export function writeManifest(root: string, manifest: string, files: string[], key?: string): void;
export function manifestHolds(root: string, manifest: string, key?: string): boolean;
