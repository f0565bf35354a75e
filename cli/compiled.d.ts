// Types of cli/compiled.js (plain JavaScript: cli/bin.js runs it before any TypeScript loader).
export declare const PROJECT_ROOT: string;
export declare const BUILD_DIR: string;
export declare function writeStamp(files: string[]): void;
export declare function compiledEntry(): { url: string } | { reason: string | null };
