// Builds the UI into the Python package (registry_app/src/registry_app/http/ui_dist), which
// http/ui.py serves. UI_OUT_DIR builds elsewhere (scripts/build-ui --check compares the two).
// Every asset gets a content hash in its name (the server caches them for a year); nothing is
// loaded from another origin.
import {resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {defineConfig} from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  resolve: {alias: {src: fileURLToPath(new URL('./src', import.meta.url))}},
  build: {
    outDir: resolve(process.env.UI_OUT_DIR ?? '../src/registry_app/http/ui_dist'),
    emptyOutDir: true,
    sourcemap: false,
    modulePreload: {polyfill: false},
    chunkSizeWarningLimit: 2000,
  },
  server: {
    // `npm run dev` against a registry on :8080 (scripts/up)
    proxy: Object.fromEntries(['/api', '/csrf_token', '/config'].map((p) => [p, 'http://127.0.0.1:8080'])),
  },
});
