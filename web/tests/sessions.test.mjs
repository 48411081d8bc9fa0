// Sessions that last, names and the dashboard on a phone (issue 17, items 1, 2, 6): a
// rename from the dashboard reaches an open terminal page; a session kept from the
// dashboard survives every tab closing past the detach timeout and is re-attached; the
// dashboard fits a 390×844 touch screen with every control inside it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { SHELL, SHOTS, api, launchBrowser, newPage, openTerminal, run, startServer, waitForLine, waitForStatus } from './lib.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const rowOf = (page, id) => page.locator(`#sessions tbody tr[data-id="${id}"]`);

/** Polls `check` (an async predicate) until it holds, for up to `timeout` ms. */
async function eventually(what, check, timeout = 15_000) {
  const until = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeout} ms`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

test('a rename from the dashboard shows in the terminal page', async () => {
  const server = await startServer(['-W', ...SHELL]);
  try {
    const term = await newPage(browser, { server });
    const id = await openTerminal(term, server.url);
    const status = () => term.evaluate(() => document.getElementById('status-session').textContent);
    assert.equal(await status(), id.length > 10 ? `${id.slice(0, 8)}…` : id);

    const dash = await newPage(browser, { server });
    await dash.goto(`${server.url}/sessions`);
    const row = rowOf(dash, id);
    await row.waitFor();
    // Esc cancels.
    await row.locator('button.rename').click();
    await row.locator('.rename-input').fill('not this');
    await row.locator('.rename-input').press('Escape');
    assert.equal(await row.locator('.rename-input').count(), 0);
    assert.equal((await api(server, 'GET', `sessions/${id}`)).json.name, null);
    // Enter saves.
    await row.locator('button.rename').click();
    await row.locator('.rename-input').fill('my build');
    await row.locator('.rename-input').press('Enter');
    await dash.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] td a`)?.textContent === 'my build', id);
    assert.equal((await api(server, 'GET', `sessions/${id}`)).json.name, 'my build');

    // The open page hears of it (the server's `session` message): status line and title.
    await term.waitForFunction(() => document.getElementById('status-session').textContent === 'my build');
    await term.waitForFunction(() => document.title.includes('my build'));
    // A page opened afterwards knows it from the start.
    const again = await newPage(browser, { server });
    await again.goto(`${server.url}/?s=${id}&rendererType=dom`);
    await waitForStatus(again, 'connected');
    await again.waitForFunction(() => document.getElementById('status-session').textContent === 'my build');
    // Cleared from the dashboard: back to the id.
    await row.locator('button.rename').click();
    await row.locator('.rename-input').fill('');
    await row.locator('.rename-input').press('Enter');
    await term.waitForFunction((id) => document.getElementById('status-session').textContent === id.slice(0, 8) + '…', id);
    for (const p of [term, dash, again]) assert.deepEqual(p.problems(), []);
    await Promise.all([term, dash, again].map((p) => p.context().close()));
  } finally {
    await server.stop();
  }
});

test('a session kept from the dashboard outlives its closed tabs', async () => {
  // --keep-sessions: the API's default, but not the terminal page's own session.
  const server = await startServer(['-W', '--keep-sessions', '--detach-timeout', '1s', '--exited-ttl', '0', ...SHELL]);
  try {
    const term = await newPage(browser, { server });
    const id = await openTerminal(term, server.url);
    await run(term, 'echo kept-$((40+2))');
    await waitForLine(term, /^kept-42$/);
    const other = await newPage(browser, { server });
    const otherId = await openTerminal(other, server.url);
    for (const s of [id, otherId]) assert.equal((await api(server, 'GET', `sessions/${s}`)).json.keep, false, s);

    const dash = await newPage(browser, { server });
    await dash.goto(`${server.url}/sessions`);
    const box = rowOf(dash, id).locator('label.keep input');
    await box.waitFor();
    assert.equal(await box.isChecked(), false);
    await box.check();
    await eventually('keep on', async () => (await api(server, 'GET', `sessions/${id}`)).json.keep === true);
    // The new-session form's keep box starts as the server's default.
    assert.equal(await dash.isChecked('#create-keep'), true);

    // Every tab closes.
    await Promise.all([term, other, dash].map((p) => p.context().close()));
    // The other one ends after the detach timeout; by then the kept one's would have too.
    await eventually('the unkept session ends', async () => (await api(server, 'GET', `sessions/${otherId}`)).status === 404);
    const kept = (await api(server, 'GET', `sessions/${id}`)).json;
    assert.equal(kept.status, 'running');
    assert.ok((await api(server, 'GET', 'sessions')).json.sessions.some((s) => s.id === id));

    // Re-attached from the dashboard, with its output.
    const back = await newPage(browser, { server });
    await back.goto(`${server.url}/sessions`);
    await rowOf(back, id).locator('td.name a').click();
    await back.waitForURL((u) => u.searchParams.get('s') === id);
    await back.goto(`${back.url()}&rendererType=dom`);
    await waitForStatus(back, 'connected');
    await waitForLine(back, /^kept-42$/);
    // The URL's keep=true makes the page's own session a kept one.
    const page = await newPage(browser, { server });
    const keptByUrl = await openTerminal(page, server.url, 'rendererType=dom&keep=true');
    assert.equal((await api(server, 'GET', `sessions/${keptByUrl}`)).json.keep, true);
    for (const p of [back, page]) assert.deepEqual(p.problems(), []);
    await Promise.all([back, page].map((p) => p.context().close()));
  } finally {
    await server.stop();
  }
});

test('the dashboard fits a 390 px touch screen with every control inside it', async () => {
  const server = await startServer(['-W', '--allow-any-command', '--command', 'logs=yes a-long-line-of-logs | head -c 100000; exec cat', ...SHELL]);
  try {
    const long = (await api(server, 'POST', 'sessions', { name: 'a rather long session name for a phone screen', keep: true })).json;
    const logs = (await api(server, 'POST', 'sessions', { command: ['logs'], name: 'logs' })).json;
    const ended = (await api(server, 'POST', 'sessions', { command: ['true'] })).json;
    const page = await newPage(browser, { server, viewport: { width: 390, height: 844 }, touch: true });
    await page.goto(`${server.url}/sessions`);
    for (const s of [long, logs, ended]) await rowOf(page, s.id).waitFor();
    // Newest first.
    const order = await page.$$eval('#sessions tbody tr', (rows) => rows.map((r) => r.dataset.id));
    assert.deepEqual(order, [ended.id, logs.id, long.id]);
    // The preview and activity of the busy one.
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-id="${id}"] .preview`)?.textContent === 'a-long-line-of-logs',
      logs.id,
    );
    assert.match(await rowOf(page, logs.id).locator('.when').textContent(), /^output \d+s ago$/);
    await page.waitForFunction(() => document.getElementById('create-submit').disabled === false);
    const outside = () =>
      page.evaluate(() => {
        const bad = [];
        for (const el of document.querySelectorAll('button, a[href], input, select, label')) {
          const r = el.getBoundingClientRect();
          if (r.width === 0 && r.height === 0) continue; // not shown
          if (r.left < 0 || r.right > window.innerWidth + 0.5) bad.push(`${el.outerHTML.slice(0, 80)} ${r.left}..${r.right}`);
        }
        if (document.documentElement.scrollWidth > window.innerWidth) bad.push(`page ${document.documentElement.scrollWidth} wide`);
        return bad;
      });
    assert.deepEqual(await outside(), []);
    await page.screenshot({ path: join(SHOTS, 'dashboard-phone.png'), fullPage: true });
    // Renaming on a phone: the field and its buttons fit too; Save by tap.
    const row = rowOf(page, long.id);
    await row.locator('button.rename').tap();
    assert.deepEqual(await outside(), []);
    await page.screenshot({ path: join(SHOTS, 'dashboard-phone-rename.png'), fullPage: true });
    await row.locator('.rename-input').fill('short');
    await row.locator('.rename-save').tap();
    await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] td a`)?.textContent === 'short', long.id);
    // The keep toggle by tap.
    await row.locator('label.keep input').tap();
    await eventually('keep off', async () => (await api(server, 'GET', `sessions/${long.id}`)).json.keep === false);
    assert.deepEqual(page.problems(), []);
    await page.context().close();
  } finally {
    await server.stop();
  }
});
