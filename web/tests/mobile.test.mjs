// The terminal page on a phone and its polish (issue 17, items 1 and 6): touch
// scroll-back (CDP touch events at 390×844), the key bar's new keys reaching `cat -v`,
// the `COMMAND (HOST)` title, the favicon, the keyboard way out of the terminal, the exit
// screen's keyboard path, the dismissable clipboard notice, and no "Leave site?" for
// the page's own links.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import {
  SHELL,
  SHOTS,
  api,
  launchBrowser,
  newPage,
  openTerminal,
  run,
  screenLines,
  startServer,
  waitForLine,
  waitForStatus,
} from './lib.mjs';

const PHONE = { width: 390, height: 844 };

let browser;
let server;
let host;
before(async () => {
  browser = await launchBrowser();
  server = await startServer(['-W', ...SHELL]);
  host = (await api(server, 'GET', 'config')).json.host;
});
after(async () => {
  await server?.stop();
  await browser?.close();
});

/** A one-finger swipe by CDP touch events, from `fromY` to `toY` at `x`, in `steps` moves. */
async function swipe(page, x, fromY, toY, steps = 12) {
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y: fromY }] });
    for (let i = 1; i <= steps; i++) {
      const y = fromY + ((toY - fromY) * i) / steps;
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y }] });
    }
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  } finally {
    await cdp.detach();
  }
}

/** Waits until the screen stops changing (a swipe's momentum has run out). */
async function settled(page) {
  let before = null;
  for (let i = 0; i < 100; i++) {
    await page.waitForTimeout(100);
    const now = (await screenLines(page)).join('\n');
    if (now === before) return now.split('\n');
    before = now;
  }
  throw new Error('the terminal kept scrolling');
}

/** Waits until `text` is on the screen as a whole line at least `times` times (the
 * tty's echo of the keys, then `cat -v`'s output). */
async function waitForLines(page, text, times = 2, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let lines = [];
  while (Date.now() < deadline) {
    lines = await screenLines(page);
    if (lines.filter((l) => l === text).length >= times) return;
    await page.waitForTimeout(50);
  }
  throw new Error(`${JSON.stringify(text)} not on the screen ${times} times; the screen:\n${lines.join('\n')}`);
}

describe('on a phone (390×844, touch)', () => {
  test('a swipe scrolls the scroll-back; a tap focuses; the page does not move', async () => {
    const page = await newPage(browser, { server, viewport: PHONE, touch: true });
    await openTerminal(page, server.url);
    await run(page, 'seq 1 300');
    await waitForLine(page, /^300$/);
    const box = await page.locator('#terminal').boundingBox();
    const x = box.x + box.width / 2;
    // The finger moves down: back into the scroll-back.
    await swipe(page, x, box.y + 100, box.y + 450);
    let lines = await settled(page);
    assert.ok(!lines.includes('300'), `still at the bottom:\n${lines.join('\n')}`);
    assert.ok(lines.some((l) => /^\d+$/.test(l)), lines.join('\n'));
    assert.deepEqual(await page.evaluate(() => [window.scrollY, document.scrollingElement.scrollTop]), [0, 0]);
    await page.screenshot({ path: join(SHOTS, 'mobile-scrolled.png') });
    // And up again, past the end: the prompt is back.
    for (let i = 0; i < 6; i++) await swipe(page, x, box.y + 500, box.y + 50);
    lines = await settled(page);
    assert.ok(lines.includes('300'), lines.join('\n'));
    // A tap (no movement) still focuses the terminal, as it opens a phone's keyboard.
    await page.evaluate(() => document.activeElement?.blur());
    await page.touchscreen.tap(x, box.y + 200);
    await page.waitForFunction(() => document.activeElement?.classList.contains('xterm-helper-textarea'));
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('in the alternate screen a swipe scrolls the program: less, and mouse wheel reports', async () => {
    const page = await newPage(browser, { server, viewport: PHONE, touch: true });
    await openTerminal(page, server.url);
    await run(page, 'seq 1 1000 | less');
    await page.waitForFunction(() => document.querySelector('#terminal .xterm-rows > div')?.textContent === '1');
    const box = await page.locator('#terminal').boundingBox();
    const x = box.x + box.width / 2;
    // The finger moves up: forward in less (xterm.js sends arrow keys in the alternate
    // screen without mouse tracking, as for the wheel).
    await swipe(page, x, box.y + 450, box.y + 100);
    const lines = await settled(page);
    assert.match(lines[0], /^\d+$/);
    assert.ok(Number(lines[0]) > 5, `less did not scroll:\n${lines.join('\n')}`);
    await page.keyboard.press('q');
    await waitForLine(page, /^rt\$$/);
    // Mouse tracking on (SGR): the swipe arrives as wheel-down reports.
    // The marker comes after the modes are set and once cat will get what is typed.
    await run(page, "printf '\\033[?1000h\\033[?1006h'; echo wheel-ready; cat -v");
    await waitForLine(page, /^wheel-ready$/);
    await swipe(page, x, box.y + 400, box.y + 300, 4);
    await page.keyboard.press('Enter');
    // A line a wheel notch: 100 px is several lines, so several reports.
    const reports = await waitForLine(page, /\^\[\[<65;\d+;\d+M/);
    assert.ok(reports.match(/\^\[\[<65;/g).length >= 3, reports);
    await page.keyboard.press('Control+C');
    await run(page, "printf '\\033[?1000l\\033[?1006l'");
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('the key bar: every key fits 390 px, and each new key reaches cat -v', async () => {
    const page = await newPage(browser, { server, viewport: PHONE, touch: true });
    await openTerminal(page, server.url);
    assert.ok(await page.isVisible('#keybar'));
    const more = page.locator('#keybar button[title="More keys"]');
    assert.equal(await more.getAttribute('aria-expanded'), 'false');
    assert.ok(!(await page.isVisible('#keybar button[title="F1"]')));
    await more.click();
    assert.equal(await more.getAttribute('aria-expanded'), 'true');
    // Nothing cut off: every key inside the screen, no row scrolled, no label clipped.
    const keys = await page.$$eval('#keybar button', (bs) =>
      bs.map((b) => {
        const r = b.getBoundingClientRect();
        return { title: b.title, left: r.left, right: r.right, clipped: b.scrollWidth > b.clientWidth };
      }),
    );
    assert.equal(keys.length, 9 + 10 + 12);
    for (const k of keys) {
      assert.ok(k.left >= 0 && k.right <= PHONE.width && !k.clipped, JSON.stringify(k));
    }
    assert.ok(await page.$$eval('.keybar-row', (rows) => rows.every((r) => r.scrollWidth <= r.clientWidth)));
    await page.screenshot({ path: join(SHOTS, 'mobile-keybar.png') });
    // Focus stays on the terminal after a key: what follows is typed into cat -v.
    // Keys typed before bash has handed the terminal over would go to its readline: the
    // marker is printed after bash set the terminal back to cooked mode, so what is
    // typed from then on waits for cat.
    await run(page, 'echo keys-1; cat -v');
    await waitForLine(page, /^keys-1$/);
    const [CTRL, ALT] = ['Ctrl applies to the next key', 'Alt applies to the next key'];
    const press = async (...titles) => {
      for (const t of titles) await page.click(`#keybar button[title="${t}"]`);
      await page.keyboard.press('Enter');
    };
    const cases = [
      [['Vertical bar', 'Tilde', 'Slash', 'Hyphen', 'Underscore', 'Backtick'], '|~/-_`'],
      [['Home', 'End', 'Page Up', 'Page Down'], '^[[H^[[F^[[5~^[[6~'],
      [['F1', 'F2', 'F3', 'F4'], '^[OP^[OQ^[OR^[OS'],
      [['F5', 'F6', 'F7', 'F8'], '^[[15~^[[17~^[[18~^[[19~'],
      [['F9', 'F10', 'F11', 'F12'], '^[[20~^[[21~^[[23~^[[24~'],
      // The sticky modifiers, encoded as xterm does (1 + Alt 2 + Ctrl 4).
      [[CTRL, 'Home', CTRL, 'F5', ALT, 'Page Up', CTRL, 'F1'], '^[[1;5H^[[15;5~^[[5;3~^[[1;5P'],
      [[CTRL, 'Slash', ALT, 'Vertical bar', CTRL, 'Underscore'], '^_^[|^_'],
    ];
    for (const [titles, expected] of cases) {
      await press(...titles);
      await waitForLines(page, expected);
    }
    await page.keyboard.press('Control+C');
    // Application cursor mode (DECCKM): Home and End as ESC O H / ESC O F.
    await run(page, "printf '\\033[?1h'; echo keys-2; cat -v");
    await waitForLine(page, /^keys-2$/);
    await press('Home', 'End', 'Up');
    await waitForLines(page, '^[OH^[OF^[OA');
    await page.keyboard.press('Control+C');
    await run(page, "printf '\\033[?1l'");
    // The extra rows stay as left, across a reload; closed, they stay closed.
    await page.reload();
    await page.locator('#keybar button[title="F1"]').waitFor({ state: 'visible' });
    assert.equal(await more.getAttribute('aria-expanded'), 'true');
    await more.click();
    assert.ok(!(await page.isVisible('#keybar button[title="F1"]')));
    await page.reload();
    await page.locator('#keybar button[title="More keys"]').waitFor({ state: 'visible' });
    assert.equal(await more.getAttribute('aria-expanded'), 'false');
    assert.ok(!(await page.isVisible('#keybar button[title="F1"]')));
    assert.deepEqual(page.problems(), []);
    await page.close();
  });
});

describe('polish', () => {
  test('the title is COMMAND (HOST), then the OSC title; a named session shows its name', async () => {
    assert.ok(host, 'GET /api/config names the host');
    const page = await newPage(browser, { server });
    await openTerminal(page, server.url);
    const own = `${SHELL.join(' ')} (${host})`;
    await page.waitForFunction((t) => document.title === t, own);
    await run(page, "printf '\\033]0;%s\\007' osc-$((6*7))");
    await page.waitForFunction(() => document.title === 'osc-42');
    // A session this page did not create: the title comes from GET /api/sessions/{id}.
    const { json } = await api(server, 'POST', 'sessions', { cols: 80, rows: 24 });
    await page.goto(`${server.url}/?s=${json.id}&rendererType=dom`);
    await waitForStatus(page, 'connected');
    await page.waitForFunction((t) => document.title === t, own);
    const named = await api(server, 'POST', 'sessions', { name: 'build', cols: 80, rows: 24 });
    await page.goto(`${server.url}/?s=${named.json.id}&rendererType=dom`);
    await page.waitForFunction(() => document.title === 'build');
    // Renamed while the page is attached (PATCH): the title follows.
    const renamed = await api(server, 'PATCH', `sessions/${named.json.id}`, { name: 'deploy' });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.json));
    await page.waitForFunction(() => document.title === 'deploy');
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('every page links the favicon, an SVG served to anyone', async () => {
    const page = await newPage(browser, { server });
    const hrefs = new Set();
    for (const path of ['/', '/sessions', '/login', '/play']) {
      await page.goto(`${server.url}${path}`);
      const href = await page.$eval('link[rel="icon"]', (l) => l.href);
      assert.match(href, /\/assets\/favicon-[\w-]+\.svg$/, path);
      hrefs.add(href);
    }
    assert.equal(hrefs.size, 1);
    // Without a login too (the login page shows it).
    const res = await fetch([...hrefs][0]);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/svg+xml');
    assert.match(await res.text(), /^<svg /);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('Ctrl+Shift+. leaves the terminal for the status line; Escape goes back; the shell gets nothing', async () => {
    const page = await newPage(browser, { server });
    await openTerminal(page, server.url);
    await run(page, 'echo keys-3; cat -v');
    await waitForLine(page, /^keys-3$/);
    await page.keyboard.press('Control+Shift+Period');
    const focused = () =>
      page.evaluate(() => ({ id: document.activeElement?.id, inStatus: !!document.activeElement?.closest('#status') }));
    assert.deepEqual(await focused(), { id: 'share', inStatus: true });
    await page.keyboard.press('Tab');
    assert.equal((await focused()).inStatus, true);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.activeElement?.classList.contains('xterm-helper-textarea'));
    await page.keyboard.type('x');
    await page.keyboard.press('Enter');
    await waitForLines(page, 'x');
    await page.keyboard.press('Control+C');
    const shortcut = await page.getAttribute('#terminal .xterm-helper-textarea', 'aria-keyshortcuts');
    assert.match(shortcut, /Control\+Shift\+Period/);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('on exit the buttons have the focus, Tab moves between them, Enter starts a new session', async () => {
    const page = await newPage(browser, { server });
    const first = await openTerminal(page, server.url);
    await run(page, 'exit 3');
    await waitForStatus(page, 'exited (status 3)');
    assert.match(await page.textContent('#notice-text'), /Press Enter for a new session/);
    const focused = () => page.evaluate(() => document.activeElement?.textContent);
    assert.equal(await focused(), 'New session');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'All sessions');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(), 'New session');
    await page.screenshot({ path: join(SHOTS, 'exit-screen.png') });
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.searchParams.get('s') && u.searchParams.get('s') !== first);
    const second = new URL(page.url()).searchParams.get('s');
    await waitForStatus(page, 'connected');
    // Enter with the focus back on the (ended) terminal restarts too.
    await waitForLine(page, /rt\$/);
    await page.click('#terminal');
    await run(page, 'exit');
    await waitForStatus(page, 'exited (status 0)');
    await page.click('#terminal');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.searchParams.get('s') && u.searchParams.get('s') !== second);
    await waitForStatus(page, 'connected');
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('the clipboard notice overlays the terminal, and × dismisses it for good', async () => {
    const page = await newPage(browser, { server });
    await openTerminal(page, server.url);
    // No clipboard permission: the right-click paste is refused.
    await page.evaluate(() => {
      navigator.clipboard.readText = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
    });
    const size = await page.textContent('#status-size');
    const box = await page.locator('#terminal').boundingBox();
    await page.click('#terminal', { button: 'right' });
    await page.waitForSelector('#clipboard-notice');
    assert.match(await page.textContent('#clipboard-notice'), /Ctrl\+Shift\+V/);
    await page.waitForTimeout(300);
    assert.deepEqual(await page.locator('#terminal').boundingBox(), box);
    assert.equal(await page.textContent('#status-size'), size);
    await page.screenshot({ path: join(SHOTS, 'clipboard-notice.png') });
    await page.click('#clipboard-notice button[aria-label^="Dismiss"]');
    assert.equal(await page.$('#clipboard-notice'), null);
    assert.equal(await page.evaluate(() => localStorage.getItem('ringtty.clipboardNotice')), 'dismissed');
    await page.click('#terminal', { button: 'right' });
    await page.waitForTimeout(300);
    assert.equal(await page.$('#clipboard-notice'), null);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('following the dashboard link asks nothing; closing the tab still asks', async () => {
    const page = await newPage(browser, { server });
    const dialogs = [];
    page.on('dialog', (d) => dialogs.push(d.type()));
    await openTerminal(page, server.url);
    await run(page, 'echo typed');
    await waitForLine(page, /^typed$/);
    await page.click('a.dashboard-link');
    await page.waitForURL(/\/sessions$/);
    assert.deepEqual(dialogs, []);
    await page.goBack();
    await waitForStatus(page, 'connected');
    await page.click('#terminal');
    await run(page, 'echo again');
    await waitForLine(page, /^again$/);
    const asked = new Promise((ok) => page.once('dialog', (d) => ok(d.type())));
    await page.close({ runBeforeUnload: true });
    assert.equal(await asked, 'beforeunload');
    assert.deepEqual(page.problems(), []);
  });
});
