/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `vite dev` proxies the API to a running gateway (TAPTRADE_URL, default http://127.0.0.1:8411).
// Sign-in needs the page's host to be one of the gateway's SIWE domains, so prefer `npm run build`
// and the gateway's own port; see README.md.
const gateway = process.env.TAPTRADE_URL ?? 'http://127.0.0.1:8411';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: true, target: 'es2022' },
  server: {
    proxy: {
      '/api': gateway,
      '/ws': { target: gateway.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
