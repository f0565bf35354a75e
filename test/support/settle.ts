/** What awaiting `fn` came to: its value, or what it threw — for tests that assert on either. Never rejects. */
export async function settle<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await fn() };
  } catch (error) {
    return { error };
  }
}
