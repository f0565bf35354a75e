/** The names the stack and the dashboard process agree on (kept apart from main.ts, which loads the SDK). */
export const DASHBOARD_TOKEN_ENV = 'CLOUD_PARALLEL_DASHBOARD_TOKEN';
export const DEFAULT_DASHBOARD_PORT = 4580;
