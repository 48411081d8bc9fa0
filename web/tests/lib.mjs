// Shared helpers for the browser tests: a ringtty server per test on a free loopback
// port, headless Chromium through playwright-core, and reading the terminal's screen.
//
// Every server runs with authentication on, as ringtty does by default: `startServer`
// reads the token from the `Login:` line ringtty prints, `newPage` logs the browser
// context in with it (POST /login, so the HttpOnly cookie is the server's own), and
// `api` sends it as a Bearer token. Only a test about `--no-auth` turns it off.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
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

/** Options after which ringtty prints no `Login:` line. */
const NO_LOGIN_LINE = ['--no-auth', '--auth-secret-file', '-H', '--auth-header', '-c', '--credential', '--credential-file'];

/** The value of option `name` in `args` (`-b /x` or `--base-path=/x`), if given. */
function option(args, ...names) {
  for (let i = 0; i < args.length; i++) {
    if (names.includes(args[i])) return args[i + 1];
    const eq = names.find((n) => n.startsWith('--') && args[i].startsWith(`${n}=`));
    if (eq) return args[i].slice(eq.length + 1);
  }
  return undefined;
}

/**
 * Starts `ringtty -p 0 ARGS...` and resolves once it prints its address (and, with the
 * default authentication, its login link) to `{ url, base, loginUrl, token, basic,
 * stop }`. `url` is `http://127.0.0.1:PORT`, `https://` with `-S` (without the base
 * path, which is `base`); `token` is the login link's token, `basic` the `-c
 * USER:PASSWORD` given, if any.
 */
export async function startServer(args) {
  const expectLogin = !args.some((a) => NO_LOGIN_LINE.includes(a.split('=')[0]));
  const child = spawn(BINARY, ['-p', '0', '-d', 'warn', ...args], {
    env: { ...process.env, PS1: PROMPT, HOME: process.env.HOME ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  let out = '';
  const [url, loginUrl] = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`ringtty did not start within 10 s:\n${out}\n${log}`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const listening = out.match(/^Listening on (https?:\/\/[^/\s]+)\//m);
      const login = out.match(/^Login: (http\S+)$/m);
      if (listening && (login || !expectLogin)) {
        clearTimeout(timer);
        ok([listening[1], login?.[1]]);
      }
    });
    child.on('exit', (code) => fail(new Error(`ringtty exited (${code}):\n${log}`)));
  });
  const basic = option(args, '-c', '--credential');
  return {
    url,
    base: option(args, '-b', '--base-path') ?? '',
    loginUrl,
    token: loginUrl ? new URL(loginUrl).searchParams.get('token') : undefined,
    basic,
    stdout: () => out,
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

/** Headless Debian Chromium with a fresh profile (playwright makes a temporary one).
 * `env` adds to the browser's environment (a `HOME` whose NSS database trusts a test
 * CA, say). */
export async function launchBrowser({ env } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    env: env ? { ...process.env, ...env } : undefined,
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
 * A page in a context of its own that records what must never happen: uncaught errors
 * and CSP violations. `problems()` lists them; each test asserts it is empty.
 *
 * With `server`, the context is logged in first (POST /login with the server's token,
 * or its `-c` user and password); `login: false` leaves it without a cookie.
 */
export async function newPage(browser, { server, viewport = { width: 1000, height: 600 }, login = true, touch = false } = {}) {
  // `touch`: a phone (touch events, a coarse pointer, the mobile viewport).
  const context = await browser.newContext({ viewport, hasTouch: touch, isMobile: touch });
  if (server && login) await logIn(context, server);
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

/** Logs a browser context in as the server's login link would: the cookie comes from
 * the server's own `Set-Cookie`. */
export async function logIn(context, server) {
  const credential = authBody(server);
  if (!credential) return;
  const res = await context.request.post(`${server.url}${server.base}/login`, { data: credential });
  if (!res.ok()) throw new Error(`POST /login answered ${res.status()}: ${await res.text()}`);
}

function authBody(server) {
  if (server.token) return { token: server.token };
  if (server.basic) {
    const [user, ...rest] = server.basic.split(':');
    return { user, password: rest.join(':') };
  }
  return null;
}

/** The header Node's fetch authenticates with: the login token, or `-c` as Basic. */
export function authHeaders(server) {
  if (typeof server === 'string') return {};
  if (server.token) return { Authorization: `Bearer ${server.token}` };
  if (server.basic) return { Authorization: `Basic ${Buffer.from(server.basic).toString('base64')}` };
  return {};
}

/** Calls the REST API (`server`: what startServer returned, or a bare URL for no
 * credential). `token` overrides the server's. */
export async function api(server, method, path, body, { token } = {}) {
  const root = typeof server === 'string' ? server : `${server.url}${server.base}`;
  const headers = token ? { Authorization: `Bearer ${token}` } : authHeaders(server);
  if (body) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${root}/api/${path}`, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { text };
  }
  return { status: res.status, json, headers: res.headers };
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

/**
 * The terminal's whole buffer, scrollback and screen, as xterm.js gives it to a user who
 * copies it (wrapped rows joined, trailing blanks trimmed): scrolled to the top, a click
 * on the first row; scrolled to the bottom, Shift+click past the end of the last row with
 * text; the page's select-to-copy then puts the selection on the clipboard. Takes the
 * clipboard (grants the context its permissions) and clears the selection afterwards.
 */
export async function terminalText(page) {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.evaluate(() => navigator.clipboard.writeText(''));
  const rows = page.locator('#terminal .xterm-rows > div');
  // Shift+PageUp/PageDown scroll a screen (the wheel, a few lines); no input is sent.
  await page.focus('#terminal .xterm-helper-textarea');
  const scrollToEnd = async (key) => {
    let before = null;
    for (let i = 0; i < 1000; i++) {
      for (let j = 0; j < 20; j++) await page.keyboard.press(key);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const now = (await screenLines(page)).join('\n');
      if (now === before) return;
      before = now;
    }
    throw new Error('the terminal did not stop scrolling');
  };
  await scrollToEnd('Shift+PageUp');
  const top = await rows.first().boundingBox();
  await page.mouse.click(top.x + 1, top.y + top.height / 2);
  await scrollToEnd('Shift+PageDown');
  const lines = await screenLines(page);
  let lastRow = lines.length - 1;
  while (lastRow > 0 && lines[lastRow] === '') lastRow--;
  const bottom = await rows.nth(lastRow).boundingBox();
  await page.keyboard.down('Shift');
  // Past the text is enough (the selection takes no trailing blanks); the right edge is
  // the scrollbar's.
  await page.mouse.click(bottom.x + bottom.width / 2, bottom.y + bottom.height / 2);
  await page.keyboard.up('Shift');
  // Copied 150 ms after the selection settles.
  let text = '';
  for (const deadline = Date.now() + 10_000; !text; await page.waitForTimeout(50)) {
    if (Date.now() > deadline) throw new Error('the selection was not copied within 10 s');
    text = await page.evaluate(() => navigator.clipboard.readText());
  }
  // A plain click ends the selection (and copies nothing).
  await page.mouse.click(bottom.x + 1, bottom.y + bottom.height / 2);
  await page.waitForFunction(() => document.querySelectorAll('#terminal .xterm-selection div').length === 0);
  return text;
}

/**
 * An HS256 token for a server started with `--auth-secret-file FILE`, minted here as any
 * JWT library would (the server's `ringtty token` does the same): the browser passes run
 * the binary through a wrapper that adds `--io uring` before every argument, where
 * `ringtty token` would no longer be a subcommand. `claims`: `sub`, `admin`, `mode`...;
 * valid for an hour, with a random `jti`.
 */
export function mintToken(secretFile, claims) {
  let secret = readFileSync(secretFile);
  if (secret.at(-1) === 0x0a) secret = secret.subarray(0, secret.at(-2) === 0x0d ? -2 : -1);
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    mode: 'rw',
    ...claims,
    iat: now,
    exp: now + 3600,
    jti: randomBytes(12).toString('hex'),
  })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
