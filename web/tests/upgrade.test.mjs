// The terminal page across a live upgrade (issue 16, `--handover`): a second ringtty
// started with the same --handover (and port, --threads, secret) takes over the first's
// listener and session while a command streams numbered lines into two tabs. The first
// process exits 0; both tabs see the server's 1001 "server upgrading", reconnect at once
// with `since`, and end with every line once and in order in xterm.js's buffer; input
// then reaches the new process. The time each tab had no connection is printed.
//
// UPGRADE_RECONNECT_AT_ONCE=1 has the pages reconnect with no jitter (Math.random()
// drawn as 0): their `GET ./api/sessions/ID` before the WebSocket then lands, more
// often than with the jitter, on a keep-alive connection the old process still serves.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  BINARY,
  PROMPT,
  SHELL,
  SHOTS,
  api,
  launchBrowser,
  mintToken,
  newPage,
  openTerminal,
  run,
  screenLines,
  terminalText,
  waitForLine,
  waitForStatus,
} from './lib.mjs';

/** Lines the command prints: well under xterm.js's 10,000 lines of scrollback. */
const LINES = 3000;
/** 30 lines, then 20 ms of sleep: about 2.5 s in all, so the upgrade lands mid-stream. */
const COMMAND = `for i in $(seq 1 ${LINES}); do echo line-$i; [ $((i % 30)) = 0 ] && sleep 0.02; done; echo DONE-MARK`;
/** The upgrade starts once a tab shows this line. */
const UPGRADE_AT = 300;

let browser;
let dir;
before(async () => {
  browser = await launchBrowser();
  dir = mkdtempSync(join(tmpdir(), 'ringtty-upgrade-'));
});
after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A loopback port free now: both processes are given it (the second takes the
 * first's listener over instead of binding it). */
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Starts `ringtty ARGS` and resolves once it prints `Listening on`; `exited` resolves
 * to `{ code, signal }`. */
async function startRingtty(name, args) {
  const child = spawn(BINARY, args, {
    env: { ...process.env, PS1: PROMPT, HOME: process.env.HOME ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let log = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  const stop = () => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 8000).unref();
    return exited;
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${out}\n${log}`);
    if (/^Listening on /m.test(out)) return { child, exited, stop, log: () => log };
    if (Date.now() - started > 10_000) {
      await stop();
      throw new Error(`${name} did not start within 10 s:\n${out}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Records, in the page, every WebSocket it opens (the page's own sockets, not routed):
 * its URL, the hello and when it came, the output bytes as text, and the close (code,
 * reason, when); and every change of the status line's connection state. Times are
 * `performance.now()` of the page.
 */
async function instrument(page) {
  await page.addInitScript((atOnce) => {
    const Native = window.WebSocket;
    const sockets = [];
    const states = [];
    window.__upgradeTest = { sockets, states };
    // UPGRADE_RECONNECT_AT_ONCE=1: the page's reconnect jitter (0-100 ms) drawn as 0.
    if (atOnce) Math.random = () => 0;
    window.WebSocket = class extends Native {
      constructor(url, protocols) {
        super(url, protocols);
        const rec = { url: String(url), hello: null, helloAt: null, bytes: 0, text: '', close: null };
        sockets.push(rec);
        const decoder = new TextDecoder();
        this.addEventListener('message', (ev) => {
          if (typeof ev.data === 'string') {
            const msg = JSON.parse(ev.data);
            if (msg.type === 'hello' && !rec.hello) {
              rec.hello = msg;
              rec.helloAt = performance.now();
            }
          } else {
            rec.bytes += ev.data.byteLength;
            rec.text += decoder.decode(new Uint8Array(ev.data), { stream: true });
          }
        });
        this.addEventListener('close', (ev) => {
          rec.close = { code: ev.code, reason: ev.reason, at: performance.now() };
        });
      }
    };
    document.addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('status-state');
      new MutationObserver(() =>
        states.push({ at: performance.now(), text: el.textContent, kind: el.dataset.state }),
      ).observe(el, { childList: true, characterData: true, subtree: true, attributes: true });
    });
  }, process.env.UPGRADE_RECONNECT_AT_ONCE === '1');
  return () => page.evaluate(() => JSON.parse(JSON.stringify(window.__upgradeTest)));
}

/** The numbers of the `line-N` lines in `text` (what the terminal holds, or the bytes it
 * was sent: escape sequences and carriage returns are dropped), in order. */
function numbered(text) {
  return text
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => l.match(/^line-(\d+)$/))
    .filter(Boolean)
    .map((m) => Number(m[1]));
}

/** Asserts `numbers` is 1..LINES, each once, in order. */
function assertAllOnce(numbers, what) {
  const seen = new Map();
  for (const n of numbers) seen.set(n, (seen.get(n) ?? 0) + 1);
  const missing = [];
  for (let n = 1; n <= LINES; n++) if (!seen.has(n)) missing.push(n);
  const repeated = [...seen].filter(([, c]) => c > 1).map(([n]) => n);
  const detail = `missing ${missing.slice(0, 20).join(' ') || 'none'}, repeated ${repeated.slice(0, 20).join(' ') || 'none'}`;
  assert.equal(numbers.length, LINES, `${what}: ${numbers.length} numbered lines; ${detail}`);
  const wrong = numbers.findIndex((n, i) => n !== i + 1);
  assert.equal(wrong, -1, `${what}: the ${wrong + 1}th numbered line is line-${numbers[wrong]}; ${detail}`);
}

/** Waits for DONE-MARK on screen; fails at once if the page gave the session up. */
async function waitForDone(page, name) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if ((await screenLines(page)).includes('DONE-MARK')) return;
    const state = await page.getAttribute('#status-state', 'data-state');
    if (state === 'gone' || state === 'exited') {
      throw new Error(`tab ${name} gave up after the upgrade: "${await page.textContent('#notice-text')}"`);
    }
    if (Date.now() > deadline) {
      throw new Error(`tab ${name}: no DONE-MARK within 30 s; the screen:\n${(await screenLines(page)).join('\n')}`);
    }
    await page.waitForTimeout(50);
  }
}

/** The largest N of a `line-N` on screen. */
async function lastShown(page) {
  return Math.max(0, ...numbered((await screenLines(page)).join('\n')));
}

test('a live upgrade mid-stream: both tabs reconnect at once, every line once and in order', async (t) => {
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'upgrade-browser-test-secret-0123456789abcdef01234567\n', { mode: 0o600 });
  const token = mintToken(secretFile, { sub: 'alice' });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    '-d', 'info', // the handover's log lines
    '--handover', join(dir, 'handover.sock'),
    '--auth-secret-file', secretFile,
    '-W', '--threads', '2', '-p', String(port), '-i', '127.0.0.1',
    ...SHELL,
  ];
  const stops = [];
  try {
    let old;
    try {
      old = await startRingtty('the first ringtty', args);
    } catch (e) {
      // CI's second browser pass runs a wrapper that adds `--io uring`, where a live
      // upgrade is refused (it reads terminals by readiness only: docs/FLEET.md; the
      // refusal itself is tested in the Rust suite).
      if (/--handover with --io uring/.test(String(e))) {
        t.skip('--handover is refused with --io uring (epoll only)');
        return;
      }
      throw e;
    }
    stops.push(old.stop);
    const server = { url, base: '', token };

    // Tab A creates the session and drives it; tab B watches the same session.
    const a = await newPage(browser, { server });
    const recordsA = await instrument(a);
    const id = await openTerminal(a, url);
    const b = await newPage(browser, { server });
    const recordsB = await instrument(b);
    await b.goto(`${url}/?s=${id}&rendererType=dom`);
    await waitForStatus(b, 'connected');
    await waitForLine(b, /rt\$/);

    await a.click('#terminal');
    await run(a, COMMAND);
    // Mid-stream: the upgrade starts once some lines are on screen.
    const deadline = Date.now() + 15_000;
    while ((await lastShown(a)) < UPGRADE_AT) {
      assert.ok(Date.now() < deadline, `line-${UPGRADE_AT} on screen within 15 s`);
      await a.waitForTimeout(20);
    }
    const upgradeFrom = await lastShown(a);
    const upgradeStarted = Date.now();
    const next = await startRingtty('the second ringtty', args);
    stops.push(next.stop);
    const startedIn = Date.now() - upgradeStarted;

    // The first process hands everything over and exits cleanly.
    const status = await Promise.race([
      old.exited,
      new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000)),
    ]);
    assert.deepEqual(status, { code: 0, signal: null }, `the first ringtty:\n${old.log()}`);
    assert.match(old.log(), /handover: 1 sessions and 2 listeners handed to pid \d+/, old.log());
    assert.match(next.log(), /handover: took over 2 listeners and 1 sessions/, next.log());

    // Both tabs get the whole stream and stay attached.
    try {
      await waitForDone(a, 'A');
      await waitForDone(b, 'B');
    } catch (e) {
      // What each tab's sockets saw, the session as the new process has it, both logs.
      for (const [name, records] of [['A', recordsA], ['B', recordsB]]) {
        const { sockets, states } = await records();
        for (const s of sockets) s.text = `${s.text.length} chars, ending ${JSON.stringify(s.text.slice(-60))}`;
        console.log(`tab ${name}:`, JSON.stringify({ sockets, states }, null, 1));
      }
      console.log('the session:', JSON.stringify((await api(server, 'GET', `sessions/${id}`)).json));
      console.log(`the first ringtty's log:\n${old.log()}\nthe second's:\n${next.log()}`);
      throw e;
    }
    await waitForStatus(a, 'connected');
    await waitForStatus(b, 'connected');

    const buffers = {};
    const downs = {};
    for (const [name, page, records] of [
      ['A', a, recordsA],
      ['B', b, recordsB],
    ]) {
      const { sockets, states } = await records();
      // One reconnect, for the upgrade, resumed where the first connection stopped.
      assert.equal(sockets.length, 2, `tab ${name}: ${JSON.stringify(sockets.map((s) => [s.url, s.close]))}`);
      const [first, second] = sockets;
      assert.equal(first.close?.code, 1001, `tab ${name}: ${JSON.stringify(first.close)}`);
      assert.match(first.close.reason, /^server upgrading/, `tab ${name}`);
      assert.equal(second.close, null, `tab ${name}: the second connection is open`);
      assert.equal(new URL(first.url).searchParams.get('since'), null);
      const since = Number(new URL(second.url).searchParams.get('since'));
      assert.equal(since, first.hello.offset + first.bytes, `tab ${name}: since= is what the page had`);
      assert.equal(second.hello.offset, since, `tab ${name}: resumed where it was`);
      // Mid-stream: the first process sent part of the lines, the second the rest.
      const before = numbered(first.text);
      const afterwards = numbered(second.text);
      assert.ok(before.length > 0 && !/\nDONE-MARK\r?\n/.test(first.text), `tab ${name}: upgrade before the end`);
      assert.ok(afterwards.length > 0, `tab ${name}: lines after the upgrade`);
      // The stream as received: every line once, in order.
      assertAllOnce(numbered(first.text + second.text), `tab ${name}, the stream`);
      // Never "gone" or "ended"; the last state is connected.
      const kinds = states.map((s) => s.kind);
      assert.ok(!kinds.includes('gone') && !kinds.includes('exited'), `tab ${name}: ${JSON.stringify(states)}`);
      assert.equal(states.at(-1).text, 'connected');
      assert.ok(await page.isHidden('#notice'), `tab ${name}: a notice is shown`);
      downs[name] = {
        ms: second.helloAt - first.close.at,
        states: states.filter((s) => s.at >= first.close.at - 1).map((s) => s.text),
        linesBefore: before.length,
      };
      // And what xterm.js holds: every line once and in order.
      const text = await terminalText(page);
      const numbers = numbered(text);
      assertAllOnce(numbers, `tab ${name}, the terminal's buffer`);
      assert.equal(text.split(/\r?\n/).filter((l) => l === 'DONE-MARK').length, 1, `tab ${name}`);
      buffers[name] = numbers;
    }
    assert.deepEqual(buffers.A, buffers.B);

    // Input reaches the new process (the old one is gone), and both tabs see it.
    await a.click('#terminal');
    await run(a, 'echo after-upgrade');
    await waitForLine(a, /^after-upgrade$/);
    await waitForLine(b, /^after-upgrade$/);
    assert.equal((await api(server, 'GET', `sessions/${id}`)).json.status, 'running');
    await a.screenshot({ path: join(SHOTS, 'upgrade.png') });

    for (const [name, d] of Object.entries(downs)) {
      const line =
        `tab ${name}: no connection for ${d.ms.toFixed(1)} ms (close 1001 to the next hello); ` +
        `${d.linesBefore} lines before the upgrade; states ${d.states.join(' → ')}`;
      // A measurement, not a check (timings belong to perf/upgrade.sh): that the page
      // reconnected at once is checked above by its two sockets (no failed retry).
      t.diagnostic(line);
    }
    t.diagnostic(`upgrade started at line-${upgradeFrom}; the second ringtty listened ${startedIn} ms later`);
    assert.deepEqual(a.problems(), []);
    assert.deepEqual(b.problems(), []);
    await a.close();
    await b.close();
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
});
