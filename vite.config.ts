import { defineConfig } from 'vitest/config';

// The UI (web/) builds with Vite once it exists; for now this file carries the test runner's settings.
export default defineConfig({
  root: '.',
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests each start a real target on their own port; keep files sequential on 2 cores.
    fileParallelism: false,
  },
});
