/**
 * The dashboard's place in the stack: its login token and the URL `local start` prints. The token is derived from the
 * stack's own secret (HMAC-SHA256, random because the secret is: shared/credentials.ts), so it needs no file of its
 * own, survives a restart (an open browser tab stays logged in) and changes whenever the credentials do.
 */
import { createHmac } from 'node:crypto';
import type { Credentials } from '../shared/sigv4.ts';
import type { StackState } from './state.ts';

export function dashboardToken(credentials: Credentials): string {
  return createHmac('sha256', credentials.secretAccessKey).update('cloud-parallel dashboard login').digest('base64url');
}

/** The URL that logs a browser in: the dashboard's address with the token, which the dashboard swaps for a cookie. */
export function dashboardLoginUrl(state: Pick<StackState, 'dashboardUrl' | 'credentials'>): string {
  return `${state.dashboardUrl}/?token=${dashboardToken(state.credentials)}`;
}
