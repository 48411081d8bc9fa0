// Measures the terminal page (docs/PERFORMANCE.md):
//  - page weight: the bytes a default load of `/` costs on the wire — the HTML and every
//    script and stylesheet the browser fetches, as the server sends them (Chromium
//    accepts brotli, so brotli), API calls not counted;
//  - page load to first output: navigation start to the first output of the session's
//    command on screen, in headless Chromium (DOM renderer, so the text is readable),
//    the median of RUNS fresh page loads, each creating its own session.
//
// Start a server whose command prints a line at once, then give the login link it
// prints (or, with --no-auth, its address):
//   ringtty -p 7681 -W sh -c 'echo ready; exec cat' &
//   node web/scripts/measure.mjs 'http://127.0.0.1:7681/?token=...' [RUNS]
// Each fresh browser context logs in first (POST /login, off the clock), so the loads
// measured are those of a logged-in user. (CHROMIUM overrides /usr/bin/chromium.)
import { chromium } from 'playwright-core';

const [address, runsArg] = process.argv.slice(2);
if (!address) {
  console.error('usage: node web/scripts/measure.mjs http://HOST:PORT[/?token=JWT] [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg ?? 10);
const loginLink = new URL(address);
const token = loginLink.searchParams.get('token');
const base = `${loginLink.origin}${loginLink.pathname.replace(/\/$/, '')}`;

/** A fresh context (nothing cached), logged in when a token was given. */
async function freshContext(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 600 } });
  if (token) {
    const res = await context.request.post(`${base}/login`, { data: { token } });
    if (!res.ok()) throw new Error(`POST /login: ${res.status()} ${await res.text()}`);
  }
  return context;
}

/** Every response of one default load of `/` (WebGL attempted, so its chunk counts),
 * as sent: Content-Length with the Content-Encoding the browser negotiated. */
async function pageWeight(browser) {
  const context = await freshContext(browser);
  const page = await context.newPage();
  const rows = [];
  page.on('response', (res) => {
    const path = new URL(res.url()).pathname;
    if (!path.includes('/api/')) rows.push([path, res.headers()]);
  });
  // QUERY adds options to this load, e.g. QUERY='&enableTrzsz=true&enableZmodem=true'
  // for the weight with file transfer on (its chunks load before the terminal connects).
  await page.goto(`${base}/?disableLeaveAlert=true${process.env.QUERY ?? ''}`);
  await page.waitForFunction(() => document.getElementById('status-state')?.textContent === 'connected');
  await context.close();
  let total = 0;
  for (const [path, headers] of rows) {
    const bytes = Number(headers['content-length']);
    total += bytes;
    console.log(`  ${path.padEnd(40)} ${String(bytes).padStart(8)} B  ${headers['content-encoding'] ?? 'identity'}`);
  }
  console.log(`page weight of / (as sent): ${total} B = ${(total / 1024).toFixed(1)} KiB in ${rows.length} responses`);
}

async function firstOutput(browser) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    // A fresh context each time: nothing cached, as on a first visit.
    const context = await freshContext(browser);
    const page = await context.newPage();
    await page.addInitScript(() => {
      // Time origin is navigation start; record when "ready" is first rendered.
      new MutationObserver((_, observer) => {
        const rows = document.querySelector('.xterm-rows');
        if (rows?.textContent?.includes('ready')) {
          window.__firstOutput = performance.now();
          observer.disconnect();
        }
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    await page.goto(`${base}/?rendererType=dom&disableLeaveAlert=true`);
    const ms = await page.waitForFunction(() => window.__firstOutput, null, { timeout: 15_000 });
    times.push(await ms.jsonValue());
    await context.close();
  }
  times.sort((a, b) => a - b);
  const median = runs % 2 ? times[(runs - 1) / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
  console.log(`page load to first output: median ${median.toFixed(0)} ms over ${runs} loads ` +
    `(min ${times[0].toFixed(0)}, max ${times[runs - 1].toFixed(0)})`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  await pageWeight(browser);
  await firstOutput(browser);
} finally {
  await browser.close();
}
