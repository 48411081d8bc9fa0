// The session dashboard (/sessions) in a real browser: it lists, opens, kills, creates
// and paginates sessions.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import {
  SHELL,
  SHOTS,
  api,
  launchBrowser,
  newPage,
  openTerminal,
  run,
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

/** The create form is usable once the server's settings have arrived. */
const createReady = (page) => page.waitForFunction(() => !document.getElementById('create-submit').disabled);
const rowOf = (page, id) => page.locator(`#sessions tbody tr[data-id="${id}"]`);

test('the dashboard lists, opens and kills sessions', async () => {
  const server = await startServer(['-W', '--command', 'hello=echo hi; exec cat', ...SHELL]);
  try {
    const alpha = (await api(server, 'POST', 'sessions', { name: 'alpha', cols: 90, rows: 20 })).json;
    const beta = (await api(server, 'POST', 'sessions', { command: ['hello'] })).json;
    const page = await newPage(browser, { server });
    await page.goto(`${server.url}/sessions`);
    await rowOf(page, alpha.id).waitFor();
    await rowOf(page, beta.id).waitFor();
    assert.match(await rowOf(page, alpha.id).textContent(), /alpha.*bash --norc --noprofile.*running.*90×20/);
    assert.match(await rowOf(page, beta.id).textContent(), /\/bin\/sh -c 'echo hi; exec cat'.*running/);
    // Without --nats the page is a single node's: no Fleet panel, no node column.
    assert.ok(await page.isHidden('#fleet'));
    assert.ok(await page.isHidden('#sessions thead th.node'));
    await page.screenshot({ path: join(SHOTS, 'dashboard.png') });

    // Open: the link leads to the terminal attached to that session.
    await rowOf(page, alpha.id).locator('td.name a').click();
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('s') === alpha.id);
    await waitForStatus(page, 'connected');
    await page.goBack();

    // The list is live: the client count follows an attached page within a poll or two.
    const clients = (n) =>
      page.waitForFunction(
        ([id, n]) => document.querySelector(`tr[data-id="${id}"]`)?.cells[4].textContent === n,
        [alpha.id, String(n)],
        { timeout: 10_000 },
      );
    await clients(0);
    const viewer = await newPage(browser, { server });
    await viewer.goto(`${server.url}/?s=${alpha.id}`);
    await waitForStatus(viewer, 'connected');
    await clients(1);
    await viewer.close();
    await clients(0);

    // Kill asks for a second click, then the session ends.
    const kill = rowOf(page, beta.id).locator('button.kill');
    await kill.click();
    assert.equal(await kill.textContent(), 'Kill?');
    assert.equal((await api(server, 'GET', `sessions/${beta.id}`)).json.status, 'running');
    await kill.click();
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-id="${id}"]`)?.dataset.status === 'exited',
      beta.id,
      { timeout: 15_000 },
    );
    const cells = await rowOf(page, beta.id).locator('td').allTextContents();
    assert.deepEqual(cells.slice(2, 4), ['exited', 'SIGHUP']);
    assert.equal((await api(server, 'GET', `sessions/${beta.id}`)).json.status, 'exited');
    // An exited session's button removes it from the list.
    await rowOf(page, beta.id).locator('button.kill').click();
    await rowOf(page, beta.id).locator('button.kill').click();
    await rowOf(page, beta.id).waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal((await api(server, 'GET', `sessions/${beta.id}`)).status, 404);
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('the dashboard creates sessions: default and named commands', async () => {
  const server = await startServer(['-W', '--command', 'greet=echo greetings-$((1+1)); exec cat', ...SHELL]);
  try {
    const page = await newPage(browser, { server });
    await page.goto(`${server.url}/sessions`);
    await createReady(page);
    const options = await page.locator('#create-command option').allTextContents();
    assert.deepEqual(options, ['default: bash --norc --noprofile', 'greet']);
    // No free command line without --allow-any-command.
    assert.ok(!(await page.isVisible('#create-cmdline')));

    await page.selectOption('#create-command', { label: 'greet' });
    await page.fill('#create-name', 'greeter');
    await page.click('#create button[type=submit]');
    await page.waitForURL(/[?&]s=/);
    const id = new URL(page.url()).searchParams.get('s');
    await waitForStatus(page, 'connected');
    const info = (await api(server, 'GET', `sessions/${id}`)).json;
    assert.equal(info.name, 'greeter');
    assert.deepEqual(info.command.slice(0, 2), ['/bin/sh', '-c']);

    await page.goto(`${server.url}/sessions`);
    await page.click('#create button[type=submit]');
    await page.waitForURL(/[?&]s=/);
    const id2 = new URL(page.url()).searchParams.get('s');
    assert.deepEqual((await api(server, 'GET', `sessions/${id2}`)).json.command, [
      'bash',
      '--norc',
      '--noprofile',
    ]);
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('with --allow-any-command the dashboard runs a typed command line', async () => {
  const server = await startServer(['-W', '--allow-any-command', ...SHELL]);
  try {
    const page = await newPage(browser, { server });
    await page.goto(`${server.url}/sessions`);
    await createReady(page);
    await page.selectOption('#create-command', 'custom');
    assert.ok(await page.isVisible('#create-cmdline'));
    await page.fill('#create-cmdline', 'echo "custom $((6*7))"; exec cat');
    await page.click('#create button[type=submit]');
    await page.waitForURL(/[?&]s=/);
    await page.goto(`${page.url()}&rendererType=dom`);
    await waitForLine(page, /^custom 42$/);
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('the dashboard paginates', async () => {
  const server = await startServer(['-W', 'sleep', '600']);
  try {
    const ids = [];
    for (let i = 0; i < 23; i++) ids.push((await api(server, 'POST', 'sessions', { name: `s${i}` })).json.id);
    const page = await newPage(browser, { server });
    await page.goto(`${server.url}/sessions`);
    const shown = () => page.$$eval('#sessions tbody tr', (rows) => rows.map((r) => r.dataset.id));
    await page.waitForFunction(() => document.getElementById('page-info').textContent === '1–20 of 23');
    const first = await shown();
    assert.equal(first.length, 20);
    assert.ok(await page.isDisabled('#prev'));
    await page.click('#next');
    await page.waitForFunction(() => document.getElementById('page-info').textContent === '21–23 of 23');
    const second = await shown();
    assert.equal(second.length, 3);
    assert.ok(await page.isDisabled('#next'));
    // The two pages together are every session, each once.
    assert.deepEqual([...first, ...second].sort(), [...ids].sort());
    await page.click('#prev');
    await page.waitForFunction(() => document.getElementById('page-info').textContent === '1–20 of 23');
    assert.deepEqual(await shown(), first);
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('the terminal page links to the dashboard', async () => {
  const server = await startServer(['-W', ...SHELL]);
  try {
    const page = await newPage(browser, { server });
    const id = await openTerminal(page, server.url);
    await run(page, 'true');
    await page.click('.dashboard-link');
    await page.waitForURL(/\/sessions$/);
    await rowOf(page, id).waitFor();
    assert.match(await rowOf(page, id).textContent(), /running/);
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});
