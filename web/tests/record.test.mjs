// Recording and playback in a real browser: a recorded session's output, played back
// on /play, is what the terminal showed; seeking and the speed control work; the
// dashboard links a recorded session to its playback.
import assert from 'node:assert/strict';
import { mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  SHELL,
  SHOTS,
  api,
  authHeaders,
  launchBrowser,
  newPage,
  openTerminal,
  run,
  screenLines,
  startServer,
  terminalText,
  waitForLine,
} from './lib.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A private directory for the recordings. */
function castDir() {
  const dir = mkdtempSync(join(tmpdir(), 'ringtty-casts-'));
  chmodSync(dir, 0o700);
  return dir;
}

/** The player's state, once what it shows has been drawn. */
async function playerAt(page, state, shown) {
  try {
    await page.waitForFunction(
      ([state, shown]) => {
        const el = document.getElementById('terminal');
        return el.dataset.state === state && (shown === null || el.dataset.shown === shown);
      },
      [state, shown],
      { timeout: 15_000 },
    );
  } catch (e) {
    const now = await page.evaluate(() => ({ ...document.getElementById('terminal').dataset }));
    throw new Error(`the player is not ${state} at ${shown}: ${JSON.stringify(now)}`, { cause: e });
  }
}

/** Moves the seek slider to `ms`, as a user dragging it does. */
async function seekTo(page, ms) {
  await page.evaluate((ms) => {
    const seek = document.getElementById('play-seek');
    seek.value = String(ms);
    seek.dispatchEvent(new Event('input', { bubbles: true }));
  }, ms);
}

test('a recorded session plays back as the terminal showed it, with seek and speed', async () => {
  const server = await startServer(['-W', '--record', castDir(), ...SHELL]);
  try {
    const page = await newPage(browser, { server });
    const id = await openTerminal(page, server.url);
    // Colours, multi-byte text, a pause (to seek into), and more lines than the screen.
    await run(page, "printf '\\033[1;32mgreen\\033[0m h\\303\\251llo \\342\\202\\254\\n'; printf 'first\\n'; sleep 1; printf 'second\\n'; seq 1 60");
    await waitForLine(page, /^60$/);
    await waitForLine(page, /^rt\$$/);
    const shown = await terminalText(page);
    assert.match(shown, /green héllo €/);
    assert.match(shown, /\n60\n/);

    // The cast as the API gives it: when "first" and "second" were shown.
    const res = await fetch(`${server.url}/api/sessions/${id}/cast`, { headers: authHeaders(server) });
    assert.equal(res.status, 200);
    const [, ...events] = (await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l));
    const at = (re) => events.find((e) => e[1] === 'o' && re.test(e[2]))[0];
    // The lines printed (CR LF), not the command line's echo, which names both and may
    // come in pieces at any time before them.
    const first = at(/first\r\n/);
    const second = at(/second\r\n/);
    assert.ok(second > first, `${first} < ${second}`);

    // Room for the recorded terminal (the terminal page's size) and the controls.
    const player = await newPage(browser, { server, viewport: { width: 1200, height: 900 } });
    await player.goto(`${server.url}/play?s=${id}&rendererType=dom&autoplay=0`);
    await playerAt(player, 'paused', '0.000');
    const duration = Number(await player.getAttribute('#play-seek', 'max'));
    assert.ok(duration >= second * 1000, `${duration}`);
    assert.match(await player.textContent('#play-title'), /bash/);

    // Seek to the end: the terminal as it was.
    await seekTo(player, duration);
    await playerAt(player, 'ended', (duration / 1000).toFixed(3));
    assert.equal(await terminalText(player), shown);
    await player.screenshot({ path: join(SHOTS, 'play.png') });

    // Seek back into the pause: "first" is there, "second" not yet.
    const middle = Math.round(((first + second) / 2) * 1000);
    await seekTo(player, middle);
    await playerAt(player, 'paused', (middle / 1000).toFixed(3));
    // data-shown says xterm.js parsed it; the DOM rows follow at the next frame.
    await waitForLine(player, /^first$/);
    const lines = await screenLines(player);
    assert.ok(!lines.includes('second'), lines.join('\n'));
    assert.match(await player.textContent('#play-time'), /^0:0\d\.\d \/ 0:\d\d\.\d$/);

    // Speed: 4×, then play to the end from the middle; the same screen again.
    await player.selectOption('#play-speed', '4');
    await player.waitForFunction(() => document.getElementById('terminal').dataset.speed === '4');
    await player.click('#play-toggle');
    await playerAt(player, 'playing', null);
    await playerAt(player, 'ended', (duration / 1000).toFixed(3));
    assert.equal(await terminalText(player), shown);
    // Replay starts over from the start.
    assert.equal(await player.textContent('#play-toggle'), 'Replay');
    assert.deepEqual(player.problems(), []);
    assert.deepEqual(page.problems(), []);

    // The dashboard links it.
    const dash = await newPage(browser, { server });
    await dash.goto(`${server.url}/sessions`);
    const link = dash.locator(`#sessions tr[data-id="${id}"] a.play`);
    await link.waitFor({ state: 'visible' });
    await link.click();
    await dash.waitForURL((u) => u.pathname === '/play' && u.searchParams.get('s') === id);
    await playerAt(dash, 'ended', (duration / 1000).toFixed(3));
    assert.deepEqual(dash.problems(), []);
  } finally {
    await server.stop();
  }
});

test('a session without a recording says so on /play, and /play asks for a login', async () => {
  const server = await startServer(['-W', ...SHELL]);
  try {
    const { json } = await api(server, 'POST', 'sessions', {});
    const page = await newPage(browser, { server });
    await page.goto(`${server.url}/play?s=${json.id}`);
    await page.waitForFunction(() => document.getElementById('terminal').dataset.state === 'error');
    assert.match(await page.textContent('#play-error'), /not recorded/);
    // Without a credential: the login page, which comes back here.
    const anon = await newPage(browser, { server, login: false });
    await anon.goto(`${server.url}/play?s=${json.id}`);
    await anon.waitForURL((u) => u.pathname === '/login' && u.searchParams.get('next') === `/play?s=${json.id}`);
    assert.deepEqual(page.problems(), []);
  } finally {
    await server.stop();
  }
});
