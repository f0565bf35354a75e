import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real local servers on fixed ports; files run one at a time so they never collide.
    fileParallelism: false,
    testTimeout: 30_000,
    // The SDK's notice that its 2027 releases need Node 22 (the lockfile pins one that supports 20).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    hookTimeout: 120_000,
  },
});
