import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

/** Where `npm run dev` sends API and WebSocket traffic: a gateway started with `npm start` (or `serve --http ...`). */
const GATEWAY = process.env.ISCSI_LAB_GATEWAY ?? 'http://127.0.0.1:8080';

// One file for both tools: Vite builds the UI (web/ -> dist/web, which the gateway serves), Vitest runs test/.
export default defineConfig({
  // Vitest runs from the repository root (test/); Vite's dev server and build from web/.
  root: process.env.VITEST ? '.' : 'web',
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // xterm alone is ~300 KB; one bundle for a local lab is fine.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      // The gateway lets only its own origin change state (server/gateway/request-guard.ts): present it on API calls.
      '/api': { target: GATEWAY, changeOrigin: true, configure: (proxy) => proxy.on('proxyReq', (proxyReq) => proxyReq.setHeader('origin', GATEWAY)) },
      '/ws': {
        target: GATEWAY,
        ws: true,
        changeOrigin: true,
        // The hub accepts browsers from its own origin only: present the gateway's origin on the proxied upgrade.
        configure: (proxy) => {
          proxy.on('proxyReqWs', (proxyReq) => proxyReq.setHeader('origin', GATEWAY));
        },
      },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests each start a real target on their own port; keep files sequential on 2 cores.
    fileParallelism: false,
  },
});
