// Vite builds four pages, the terminal (index.html, served at /), the dashboard
// (sessions.html, served at /sessions), the login page (login.html, served at /login)
// and the playback page (play.html, served at /play), into hashed files under assets/.
// build.rs sets RINGTTY_WEB_OUT to a directory inside cargo's OUT_DIR.
//
// `vite dev` proxies the API and WebSockets to a running ringtty
// (RINGTTY_URL, default http://127.0.0.1:7681), e.g. `cargo run -- -W -p 7681 bash`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const server = process.env.RINGTTY_URL ?? 'http://127.0.0.1:7681';

export default defineConfig({
  // Every URL relative to the page, so the UI works under any `-b/--base-path`.
  base: './',
  build: {
    outDir: process.env.RINGTTY_WEB_OUT ?? 'dist',
    // The out dir lies outside the project when build.rs builds; empty it anyway.
    emptyOutDir: true,
    target: 'es2022',
    // Small assets as separate files, never inlined as data: URLs.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    // xterm.js and its addons are one ~550 kB script (~110 kB brotli); that is expected.
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL('index.html', import.meta.url)),
        sessions: fileURLToPath(new URL('sessions.html', import.meta.url)),
        login: fileURLToPath(new URL('login.html', import.meta.url)),
        play: fileURLToPath(new URL('play.html', import.meta.url)),
      },
      output: {
        // What the pages share gets a name that says so.
        manualChunks: (id) => (/\/src\/(common\/|style\.css)/.test(id) ? 'common' : undefined),
      },
    },
  },
  server: {
    proxy: {
      '/api': { target: server, ws: true, changeOrigin: false },
      // POST /login goes to the server; GET /login is this dev server's login page.
      '/login': { target: server, bypass: (req) => (req.method === 'GET' ? '/login.html' : undefined) },
      '/logout': { target: server },
    },
  },
});
