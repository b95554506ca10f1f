/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import AutoImport from 'unplugin-auto-import/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The console is served by the gateway at "/" (web/dist); `npm run dev`
// proxies /api to a running stack (PLUGBOARD_GATEWAY_URL, default :8080).
export default defineConfig({
  plugins: [
    vue(),
    AutoImport({ resolvers: [ElementPlusResolver()], dts: false }),
    Components({ resolvers: [ElementPlusResolver()], dts: false }),
  ],
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 700,
    // No inline <script> or data: modules: the gateway's CSP forbids them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { '/api': { target: process.env.PLUGBOARD_GATEWAY_URL ?? 'http://127.0.0.1:8080', changeOrigin: false } },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.spec.ts'],
    testTimeout: 20_000,
    server: { deps: { inline: ['element-plus'] } },
  },
})
