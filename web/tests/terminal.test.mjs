// The terminal page in a real browser (issue 7): typing, resizing, reload, resume,
// flood, read-only, exit. Each test starts its own ringtty on a free loopback port.
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
  recordWebSockets,
  run,
  screenLines,
  startServer,
  waitForLine,
  waitForStatus,
} from './lib.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('writable terminal (ringtty -W bash)', () => {
  let server;
  before(async () => {
    server = await startServer(['-W', ...SHELL]);
  });
  after(async () => {
    await server?.stop();
  });

  test('a bare / creates a session; typing `echo hello` shows hello', async () => {
    const page = await newPage(browser, { server });
    const id = await openTerminal(page, server.url);
    assert.match(id, /^[A-Za-z0-9_-]{16,}$/);
    // Other query parameters survive the id being added.
    assert.equal(new URL(page.url()).searchParams.get('rendererType'), 'dom');
    await run(page, 'echo hello');
    await waitForLine(page, /^hello$/);
    assert.equal(await page.textContent('#status-role'), 'driver');
    await page.screenshot({ path: join(SHOTS, 'terminal.png') });
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('resizing the viewport resizes the PTY (stty size)', async () => {
    const page = await newPage(browser, { server, viewport: { width: 1000, height: 600 } });
    await openTerminal(page, server.url);
    const before = await page.textContent('#status-size');
    await page.setViewportSize({ width: 620, height: 380 });
    await page.waitForFunction((b) => document.getElementById('status-size').textContent !== b, before);
    const [cols, rows] = (await page.textContent('#status-size')).split('×').map(Number);
    assert.ok(cols < Number(before.split('×')[0]), `${cols} columns after shrinking from ${before}`);
    await run(page, 'stty size');
    await waitForLine(page, new RegExp(`^${rows} ${cols}$`));
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('the window title follows the terminal; titleFixed pins it', async () => {
    const page = await newPage(browser, { server });
    await openTerminal(page, server.url);
    await run(page, "printf '\\033]0;%s\\007' title-$((2*21))");
    await page.waitForFunction(() => document.title === 'title-42');
    await page.goto(`${server.url}/?rendererType=dom&titleFixed=Pinned`);
    await waitForStatus(page, 'connected');
    await page.click('#terminal');
    await run(page, "printf '\\033]0;%s\\007' other; echo titled");
    await waitForLine(page, /^titled$/);
    assert.equal(await page.title(), 'Pinned');
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('select-to-copy, Ctrl+Shift+C and right-click paste', async () => {
    const page = await newPage(browser, { server });
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await openTerminal(page, server.url);
    await run(page, 'echo copyme-$((4*4))');
    await waitForLine(page, /^copyme-16$/);
    // Double-click selects the word; the selection lands on the clipboard.
    const word = page.locator('#terminal .xterm-rows > div', { hasText: /^copyme-16$/ }).first();
    const box = await word.boundingBox();
    // xterm.js takes the mouse on its screen layer, above the rows.
    await page.mouse.dblclick(box.x + 10, box.y + box.height / 2);
    await page.waitForFunction(async () => (await navigator.clipboard.readText()) === 'copyme-16');
    await page.evaluate(() => navigator.clipboard.writeText('something else'));
    await page.keyboard.press('Control+Shift+C');
    await page.waitForFunction(async () => (await navigator.clipboard.readText()) === 'copyme-16');
    // On Linux the clipboard holds a selection at once (the primary selection), so the
    // waits above can pass before the page's own select-to-copy, 150 ms after the
    // selection settles, which would then overwrite what is written below. A click
    // clears the selection, and with it that pending copy.
    await page.mouse.click(box.x + 10, box.y + box.height / 2);
    await page.waitForFunction(() => document.querySelectorAll('#terminal .xterm-selection div').length === 0);
    // Right-click pastes the clipboard as input.
    await page.evaluate(() => navigator.clipboard.writeText('echo pasted-$((3*3))'));
    await page.click('#terminal', { button: 'right' });
    // The clipboard read is asynchronous: Enter pressed before the paste lands
    // would reach the shell first, as it would for a user typing that fast.
    await waitForLine(page, /^rt\$ echo pasted-\$\(\(3\*3\)\)$/);
    await page.keyboard.press('Enter');
    await waitForLine(page, /^pasted-9$/);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('the key bar on a small screen sends Esc, Ctrl+key and arrows', async () => {
    const page = await newPage(browser, { server, viewport: { width: 480, height: 500 } });
    await openTerminal(page, server.url);
    assert.ok(await page.isVisible('#keybar'));
    // Typed once cat has the terminal (after the marker), not into bash's readline.
    await run(page, 'echo keys-ready; cat -v');
    await waitForLine(page, /^keys-ready$/);
    await page.click('#keybar button:text("Esc")');
    await page.click('#keybar button:text("Ctrl")');
    assert.equal(await page.getAttribute('#keybar button:text("Ctrl")', 'aria-pressed'), 'true');
    await page.keyboard.type('a');
    assert.equal(await page.getAttribute('#keybar button:text("Ctrl")', 'aria-pressed'), 'false');
    await page.click('#keybar button[title="Up"]');
    await page.keyboard.press('Enter');
    await waitForLine(page, /^\^\[\^A\^\[\[A$/);
    await page.keyboard.press('Control+C');
    // Not on a wide screen with a mouse.
    await page.setViewportSize({ width: 1000, height: 600 });
    await page.waitForFunction(() => document.getElementById('keybar').hidden);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('a sixel image is drawn (its WebAssembly decoder runs under the CSP)', async () => {
    const page = await newPage(browser, { server });
    await openTerminal(page, server.url);
    // A 4x6 red block: DCS q, colour 0 = RGB(100%,0,0), four sixels of all six pixels.
    await run(page, "printf '\\033Pq#0;2;100;0;0#0~~~~\\033\\\\'; echo; echo drawn");
    await waitForLine(page, /^drawn$/);
    await page.waitForSelector('#terminal canvas.xterm-image-layer', { state: 'attached', timeout: 10_000 });
    const red = await page.evaluate(() => {
      const canvas = document.querySelector('#terminal canvas.xterm-image-layer');
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i] > 200 && pixels[i + 1] < 50 && pixels[i + 3] > 200) n++;
      return n;
    });
    assert.ok(red >= 4 * 6, `${red} red pixels`);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('a reload reattaches to the same session with its output', async () => {
    const page = await newPage(browser, { server });
    const id = await openTerminal(page, server.url);
    await run(page, 'echo pid=$$ mark-$((6*7))');
    const pidLine = await waitForLine(page, /^pid=\d+ mark-42$/);
    await page.reload();
    await waitForStatus(page, 'connected');
    assert.equal(new URL(page.url()).searchParams.get('s'), id);
    // The earlier output is replayed from the scrollback...
    await waitForLine(page, /^pid=\d+ mark-42$/);
    // ...and it is the same shell.
    await page.click('#terminal');
    await run(page, 'echo again pid=$$');
    await waitForLine(page, new RegExp(`^again ${pidLine.split(' ')[0]}$`));
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('a dropped connection resumes with since=, losing and repeating nothing', async () => {
    const page = await newPage(browser, { server });
    const sockets = [];
    await page.routeWebSocket(/\/ws/, (ws) => {
      ws.connectToServer();
      sockets.push(ws);
    });
    await openTerminal(page, server.url);
    await run(page, 'echo before-$((2+3))');
    await waitForLine(page, /^before-5$/);
    assert.equal(sockets.length, 1);
    assert.equal(new URL(sockets[0].url()).searchParams.get('since'), null);
    await sockets[0].close({ code: 4000, reason: 'test: network blip' });
    await page.waitForFunction(() => document.getElementById('status-state').textContent.startsWith('reconnecting'));
    await waitForStatus(page, 'connected');
    assert.equal(sockets.length, 2);
    const since = new URL(sockets[1].url()).searchParams.get('since');
    assert.match(since ?? '', /^\d+$/, 'a reconnect resumes from an offset');
    await page.click('#terminal');
    await run(page, 'echo after-$((3+4))');
    await waitForLine(page, /^after-7$/);
    const lines = await screenLines(page);
    assert.equal(lines.filter((l) => l === 'before-5').length, 1, lines.join('\n'));
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('a flood (yes) stops at Ctrl+C, acks follow rendering, the page stays responsive', async () => {
    const page = await newPage(browser, { server });
    const { messages } = await recordWebSockets(page);
    await openTerminal(page, server.url);
    await run(page, 'yes');
    await waitForLine(page, /^y$/);
    await page.waitForTimeout(1500); // let it run into the flow-control window
    await page.keyboard.press('Control+C');
    await run(page, 'echo after-flood-$((40+2))');
    // Generous: everything in flight must be parsed first; this is no benchmark.
    await waitForLine(page, /^after-flood-42$/, 30_000);
    const started = Date.now();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
    assert.ok(Date.now() - started < 5000, 'the page answers within 5 s');
    await page.waitForTimeout(300); // the last ack is batched

    // Acks: cumulative, increasing, never beyond what the page had received, and
    // at the end covering everything.
    let received = null;
    let lastAck = -1;
    let acks = 0;
    for (const m of messages) {
      const msg = m.text ? JSON.parse(m.text) : null;
      if (m.from === 'server' && msg?.type === 'hello') received = msg.offset;
      else if (m.from === 'server' && m.bytes !== undefined) received += m.bytes;
      else if (m.from === 'page' && msg?.type === 'ack') {
        assert.ok(msg.offset > lastAck, `ack ${msg.offset} after ${lastAck}`);
        assert.ok(msg.offset <= received, `ack ${msg.offset} beyond the ${received} received`);
        lastAck = msg.offset;
        acks += 1;
      }
    }
    assert.ok(received > 4 * 64 * 1024, `the flood delivered ${received} bytes`);
    assert.ok(acks >= received / (64 * 1024) / 2, `${acks} acks for ${received} bytes`);
    assert.equal(lastAck, received, 'everything rendered is acked once the output stops');
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('a large paste goes out in messages of at most 64 KiB', async () => {
    const page = await newPage(browser, { server });
    const { messages } = await recordWebSockets(page);
    await openTerminal(page, server.url);
    // Non-canonical: a canonical-mode line holds only 4 KiB.
    await run(page, 'stty -icanon -echo; head -c 150000 | wc -c; stty sane');
    await page.keyboard.insertText('x'.repeat(150_000));
    await waitForLine(page, /^150000$/, 30_000);
    const sent = messages.filter((m) => m.from === 'page' && m.bytes !== undefined).map((m) => m.bytes);
    assert.ok(sent.every((n) => n <= 64 * 1024), `message sizes ${sent}`);
    assert.ok(sent.filter((n) => n === 64 * 1024).length >= 2, `message sizes ${sent}`);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('exit shows the exit status and does not reconnect', async () => {
    const page = await newPage(browser, { server });
    await openTerminal(page, server.url);
    await run(page, 'exit 3');
    await waitForStatus(page, 'exited (status 3)');
    assert.match(await page.textContent('#notice-text'), /exited with status 3/);
    await page.waitForTimeout(1500);
    assert.equal(await page.textContent('#status-state'), 'exited (status 3)');
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('an unknown session id says so and offers a new session', async () => {
    const page = await newPage(browser, { server });
    await page.goto(`${server.url}/?s=AAnosuchsession000&rendererType=dom&fontSize=18`);
    await page.waitForFunction(() => /no longer exists/.test(document.getElementById('notice-text').textContent));
    await page.click('#notice-actions button:text("New session")');
    await page.waitForURL((u) => u.searchParams.get('s') && u.searchParams.get('s') !== 'AAnosuchsession000');
    assert.equal(new URL(page.url()).searchParams.get('fontSize'), '18');
    await waitForStatus(page, 'connected');
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('the default renderer is WebGL, and a lost WebGL context falls back to DOM', async () => {
    const page = await newPage(browser, { server });
    await page.goto(`${server.url}/`);
    await page.waitForURL(/[?&]s=/);
    await waitForStatus(page, 'connected');
    // Headless Chromium has a software WebGL2.
    assert.equal(await page.getAttribute('#terminal', 'data-renderer'), 'webgl');
    await page.evaluate(() => {
      // The renderer's canvas is the one whose context is WebGL2 (the link and image
      // layers are 2D, and getContext of another kind on them gives null).
      const canvases = [...document.querySelectorAll('#terminal canvas')];
      const gl = canvases.map((c) => c.getContext('webgl2')).find((g) => g);
      gl.getExtension('WEBGL_lose_context').loseContext();
    });
    // xterm.js waits 3 s for the context to come back before giving up on it.
    await page.waitForFunction(() => document.getElementById('terminal').dataset.renderer === 'dom', null, {
      timeout: 10_000,
    });
    await page.click('#terminal');
    await run(page, 'echo on-dom-$((9*9))');
    await waitForLine(page, /^on-dom-81$/);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('without WebGL the DOM renderer runs', async () => {
    const page = await newPage(browser, { server });
    await page.addInitScript(() => {
      const getContext = HTMLCanvasElement.prototype.getContext;
      HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
        return kind === 'webgl2' || kind === 'webgl' ? null : getContext.call(this, kind, ...rest);
      };
    });
    await openTerminal(page, server.url, '');
    assert.equal(await page.getAttribute('#terminal', 'data-renderer'), 'dom');
    await run(page, 'echo no-gl');
    await waitForLine(page, /^no-gl$/);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });
});

test('read-only (ringtty bash, no -W): banner, and typing changes nothing', async () => {
  const server = await startServer(SHELL);
  try {
    const page = await newPage(browser, { server });
    const id = await openTerminal(page, server.url);
    assert.ok(await page.isVisible('#readonly-banner'));
    assert.equal(await page.textContent('#status-role'), 'read-only');
    const before = (await api(server, 'GET', `sessions/${id}`)).json.offset;
    await run(page, 'echo typed-$((5*5))');
    await page.waitForTimeout(1500);
    const lines = await screenLines(page);
    assert.ok(!lines.some((l) => l.includes('typed-')), lines.join('\n'));
    // Nothing reached the shell: it printed nothing more.
    assert.equal((await api(server, 'GET', `sessions/${id}`)).json.offset, before);
    await page.screenshot({ path: join(SHOTS, 'terminal-read-only.png') });
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('under a base path (-b /prefix) every URL stays relative', async () => {
  const server = await startServer(['-W', '-b', '/prefix', ...SHELL]);
  try {
    const page = await newPage(browser, { server });
    await openTerminal(page, `${server.url}/prefix`);
    assert.match(page.url(), /\/prefix\/\?/);
    await run(page, 'echo based');
    await waitForLine(page, /^based$/);
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('client options: -t KEY=VALUE from the server, overridden by the URL query', async () => {
  const server = await startServer(['-W', '-t', 'fontSize=21', '-t', 'theme={"background":"#102030"}', ...SHELL]);
  try {
    const page = await newPage(browser, { server });
    const style = () =>
      page.evaluate(() => ({
        font: getComputedStyle(document.querySelector('#terminal .xterm-rows')).fontSize,
        background: getComputedStyle(document.querySelector('#terminal .xterm-scrollable-element')).backgroundColor,
      }));
    await openTerminal(page, server.url);
    assert.deepEqual(await style(), { font: '21px', background: 'rgb(16, 32, 48)' });
    await openTerminal(page, server.url, 'rendererType=dom&fontSize=12');
    assert.deepEqual(await style(), { font: '12px', background: 'rgb(16, 32, 48)' });
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

// Every query xterm.js (or its image addon) answers by itself, and some it does not
// (XTVERSION): none of them may be answered when it is replayed.
const QUERIES = [
  '\\033[c', // DA1
  '\\033[>c', // DA2
  '\\033[5n\\033[6n\\033[?6n', // DSR: status, cursor position; DECXCPR
  '\\033]10;?\\007\\033]11;?\\033\\\\\\033]12;?\\007\\033]4;1;?\\007', // OSC colour queries
  '\\033[?1$p\\033[4$p', // DECRQM, private and ANSI
  '\\033[>q', // XTVERSION
  '\\033[14t\\033[16t\\033[18t', // window and cell size reports
  '\\033P$qm\\033\\\\\\033P$qr\\033\\\\', // DECRQSS
  '\\033[?1;1S\\033[?2;1S', // XTSMGRAPHICS (the image addon)
  '\\033[?1004h\\033[?1004l', // focus reporting: turning it on reports the focus at once
].join('');

/** The number of answers (`^[[…c`, `^[]…`, `^[P…` as `cat -v` shows them) in a line. */
function answersIn(line) {
  return (line.match(/\^\[/g) ?? []).length;
}

/** Waits until two screen lines end with `text`; returns the screen. */
async function twoLinesEnding(page, text) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const lines = await screenLines(page);
    if (lines.filter((l) => l.endsWith(text)).length >= 2) return lines;
    assert.ok(Date.now() < deadline, `two lines ending with ${text}; the screen:\n${lines.join('\n')}`);
    await page.waitForTimeout(50);
  }
}

describe('the page types nothing nobody typed (issue 11)', () => {
  let server;
  before(async () => {
    server = await startServer(['-W', '--allow-any-command', ...SHELL]);
  });
  after(async () => {
    await server?.stop();
  });

  test('queries in the replay are not answered: first visit, and a reload', async () => {
    // The queries are printed before any page is attached; then `cat -v` shows
    // every byte the terminal is sent as input.
    const script = `printf '${QUERIES}'; printf 'queries-printed\\n'; exec cat -v`;
    const created = await api(server, 'POST', 'sessions', { command: ['sh', '-c', script] });
    assert.equal(created.status, 201);
    const id = created.json.id;
    // Attach only once the queries are in the scrollback.
    for (let i = 0; (await api(server, 'GET', `sessions/${id}`)).json.offset < 100; i++) {
      assert.ok(i < 200, 'the queries were printed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const page = await newPage(browser, { server });
    const { messages } = await recordWebSockets(page);
    await page.goto(`${server.url}/?s=${id}&rendererType=dom`);
    await waitForStatus(page, 'connected');
    await waitForLine(page, /queries-printed/);
    // Answers go out while xterm.js parses, so before anything typed after the replay
    // is on screen: the line `cat` reads holds them, if any.
    await page.click('#terminal');
    await run(page, 'first-visit');
    // The terminal's echo of the line, then what `cat` read.
    let lines = await twoLinesEnding(page, 'first-visit');
    assert.equal(lines.filter((l) => answersIn(l) > 0).length, 0, lines.join('\n'));
    const sent = messages.filter((m) => m.from === 'page' && m.bytes !== undefined).reduce((n, m) => n + m.bytes, 0);
    assert.equal(sent, 'first-visit\r'.length, 'the page sent only what was typed');

    await page.reload();
    await waitForStatus(page, 'connected');
    await waitForLine(page, /first-visit$/);
    await page.click('#terminal');
    await run(page, 'after-reload');
    lines = await twoLinesEnding(page, 'after-reload');
    assert.equal(lines.filter((l) => answersIn(l) > 0).length, 0, lines.join('\n'));
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('two tabs on one session: a live DA query is answered once, by the driver', async () => {
    const a = await newPage(browser, { server });
    const id = await openTerminal(a, server.url);
    const b = await newPage(browser, { server });
    await b.goto(`${server.url}/?s=${id}&rendererType=dom`);
    await waitForStatus(b, 'connected');
    await waitForLine(b, /rt\$/);
    // Same window size: the size says nothing about who drives. Typing in A makes it
    // the driver (SPEC §4).
    await a.click('#terminal');
    await run(a, "stty -echo; printf '\\033[cqueried-%s\\n' $((6*7)); cat -v");
    await waitForLine(a, /^queried-42$/);
    await waitForLine(b, /^queried-42$/);
    // Both tabs have parsed the query (and sent whatever they answer): end the line.
    await run(a, 'END');
    const line = await waitForLine(a, /END$/);
    assert.equal(answersIn(line), 1, `cat read ${JSON.stringify(line)}`);
    assert.match(line, /^\^\[\[\?[\d;]+cEND$/);
    // Each tab knows its role, though both have the same size.
    assert.equal(await a.textContent('#status-role'), 'driver');
    assert.equal(await b.textContent('#status-role'), 'viewer');
    // Nothing more arrives later, and the other tab types as well as ever.
    await b.click('#terminal');
    await run(b, 'END2');
    assert.equal(await waitForLine(b, /END2$/), 'END2');
    await b.waitForFunction(() => document.getElementById('status-role').textContent === 'driver');
    assert.deepEqual(a.problems(), []);
    assert.deepEqual(b.problems(), []);
    await a.close();
    await b.close();
  });
});
