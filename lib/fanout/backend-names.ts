/**
 * The fan-out's backends by name, as callers ask for them. Apart from ./backends.ts, which builds them, so that a
 * schema naming them (lib/primes/run-input.ts) loads no backend and no AWS client.
 */
export const BACKEND_NAMES = ['lambda', 'ec2', 'local'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
