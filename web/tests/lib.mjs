// Shared helpers for the browser tests: a ringtty server per test on a free loopback
// port, headless Chromium through playwright-core, and reading the terminal's screen.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const BINARY = process.env.RINGTTY_BINARY;
if (!BINARY) throw new Error('set RINGTTY_BINARY to the ringtty binary (web/tests/run.sh does)');
export const SHOTS = resolve(process.env.SCREENSHOT_DIR ?? join(here, '../../target/browser'));
mkdirSync(SHOTS, { recursive: true });

/** The shell every test types into: no rc files, a known prompt. */
export const SHELL = ['bash', '--norc', '--noprofile'];
export const PROMPT = 'rt$ ';

/**
 * Starts `ringtty -p 0 ARGS...` and resolves to `{ url, stop }` once it prints its
 * address. `url` is `http://127.0.0.1:PORT`.
 */
export async function startServer(args) {
  const child = spawn(BINARY, ['-p', '0', '-d', 'warn', ...args], {
    env: { ...process.env, PS1: PROMPT, HOME: process.env.HOME ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const url = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`ringtty did not start within 10 s:\n${log}`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^Listening on (http:\/\/[^/\s]+)\//m);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`ringtty exited (${code}):\n${log}`)));
  });
  return {
    url,
    log: () => log,
    stop: () =>
      new Promise((ok) => {
        if (child.exitCode !== null) return ok();
        child.on('exit', ok);
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 8000).unref();
      }),
  };
}

/** Headless Debian Chromium with a fresh profile (playwright makes a temporary one). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page that records what must never happen: uncaught errors and CSP violations.
 * `problems()` lists them; each test asserts it is empty.
 */
export async function newPage(browser, viewport = { width: 1000, height: 600 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content.Security.Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
  });
  // The leave prompt is real UI; the tests navigate away on purpose.
  page.on('dialog', (d) => void d.accept());
  page.problems = () => problems;
  return page;
}

/** The terminal's visible lines (DOM renderer: open the page with `rendererType=dom`). */
export async function screenLines(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#terminal .xterm-rows > div')].map((row) =>
      row.textContent.replace(/\u00a0/g, ' ').trimEnd(),
    ),
  );
}

/** Waits until some screen line matches `re`; returns that line. */
export async function waitForLine(page, re, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let lines = [];
  while (Date.now() < deadline) {
    lines = await screenLines(page);
    const hit = lines.find((l) => re.test(l));
    if (hit !== undefined) return hit;
    await page.waitForTimeout(50);
  }
  throw new Error(`no line matching ${re} within ${timeout} ms; the screen:\n${lines.join('\n')}`);
}

export async function waitForStatus(page, text, timeout = 15_000) {
  await page.waitForFunction(
    (t) => document.getElementById('status-state')?.textContent === t,
    text,
    { timeout },
  );
}

/** Opens the terminal page, waits for the session, focuses the terminal. */
export async function openTerminal(page, url, query = 'rendererType=dom') {
  await page.goto(`${url}/?${query}`);
  await page.waitForURL(/[?&]s=/);
  await waitForStatus(page, 'connected');
  await waitForLine(page, /rt\$/);
  await page.click('#terminal');
  return new URL(page.url()).searchParams.get('s');
}

/** Types a command line and presses Enter. */
export async function run(page, line) {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

export async function api(url, method, path, body) {
  const res = await fetch(`${url}/api/${path}`, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/**
 * Records every WebSocket message between the page and the server (the page's sockets
 * are routed through Playwright, which forwards them unchanged). Each record is
 * `{ from: 'page' | 'server', text?, bytes? }`; `sockets` are the routes, for closing.
 */
export async function recordWebSockets(page) {
  const messages = [];
  const sockets = [];
  await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    const server = ws.connectToServer();
    sockets.push(ws);
    const record = (from, m) =>
      messages.push(typeof m === 'string' ? { from, text: m } : { from, bytes: m.length });
    ws.onMessage((m) => {
      record('page', m);
      server.send(m);
    });
    server.onMessage((m) => {
      record('server', m);
      ws.send(m);
    });
  });
  return { messages, sockets };
}
