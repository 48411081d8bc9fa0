// The dashboard on a node of a fleet (issue 16): a real nats-server and two ringtty
// nodes (`--nats`, `--node-id n1/n2`, one `--auth-secret-file`). The dashboard of n1
// lists both nodes' sessions with their node, shows the nodes in its Fleet panel (a
// drained node marked), opens n2's session through n1 (the owner redirect) and kills
// it over the bus; with the bus down it warns and marks the list as this node's only.
//
// Needs nats-server (Debian: apt-get install nats-server; or set NATS_SERVER). Without
// it the test fails: CI installs it, and a skipped test would hide a broken fleet UI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BINARY, PROMPT, SHELL, SHOTS, api, launchBrowser, mintToken, newPage, waitForStatus } from './lib.mjs';

const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

let browser;
let dir;
before(async () => {
  browser = await launchBrowser();
  dir = mkdtempSync(join(tmpdir(), 'ringtty-fleet-'));
});
after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A loopback port free now (the fleet's nodes need theirs before they start: each
 * advertises its address to the others). */
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

/** Starts `command args`, resolves to `{ child, stop, log }` once `ready()` says so. */
async function startProcess(name, command, args, ready, env = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const stop = () =>
    new Promise((ok) => {
      if (child.exitCode !== null || child.signalCode !== null) return ok();
      child.on('exit', ok);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 8000).unref();
    });
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${log}`);
    if (await ready(log)) return { child, stop, log: () => log };
    if (Date.now() - started > 10_000) {
      await stop();
      throw new Error(`${name} did not start within 10 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const accepts = (port) =>
  new Promise((ok) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      ok(true);
    });
    socket.on('error', () => ok(false));
  });

/** nats-server on a free loopback port. */
async function startNats() {
  assert.ok(
    existsSync(NATS_SERVER),
    `no nats-server at ${NATS_SERVER}: apt-get install nats-server (or set NATS_SERVER); the fleet test needs a real one`,
  );
  const port = await freePort();
  const nats = await startProcess('nats-server', NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port)], () =>
    accepts(port),
  );
  return { ...nats, url: `nats://127.0.0.1:${port}` };
}

/** A ringtty node of the fleet: the same shape as lib.mjs's startServer, so `api` and
 * `newPage` take it (the token is minted with the fleet's secret, not printed). */
async function startNode(node, nats, secretFile, token) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    '-p', String(port), '-d', 'warn', '-W',
    '--auth-secret-file', secretFile,
    '--nats', nats.url, '--node-id', node, '--advertise-url', url, '--fleet-timeout', '1s',
    ...SHELL,
  ];
  const proc = await startProcess(node, BINARY, args, (log) => /^Listening on /m.test(log), {
    PS1: PROMPT,
    HOME: process.env.HOME ?? '/tmp',
  });
  return { url, base: '', token, ...proc };
}

/** Waits until `check()` is truthy (polling the API, not the page). */
async function eventually(what, check, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const rowOf = (page, id) => page.locator(`#sessions tbody tr[data-id="${id}"]`);
const nodeRow = (page, node) => page.locator(`#fleet-nodes tbody tr[data-node="${node}"]`);

test('on a fleet the dashboard lists every node and its sessions; a bus outage is shown', async () => {
  const nats = await startNats();
  const stops = [nats.stop];
  try {
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'fleet-browser-test-secret-0123456789abcdef0123456789\n', { mode: 0o600 });
    const token = mintToken(secretFile, { sub: 'alice' });
    const admin = mintToken(secretFile, { sub: 'root', admin: true });
    const n1 = await startNode('n1', nats, secretFile, token);
    stops.push(n1.stop);
    const n2 = await startNode('n2', nats, secretFile, token);
    stops.push(n2.stop);
    await eventually('n1 to hear from n2', async () => {
      const fleet = (await api(n1, 'GET', 'fleet')).json;
      return fleet.nats === 'connected' && fleet.nodes.some((n) => n.node === 'n2');
    });

    const here = (await api(n1, 'POST', 'sessions', { name: 'on-n1' })).json;
    // A name with markup: it must show as text.
    const there = (await api(n2, 'POST', 'sessions', { name: 'on-n2 <b>bold</b>' })).json;
    assert.match(here.id, /^n1\./);
    assert.match(there.id, /^n2\./);

    const page = await newPage(browser, { server: n1 });
    const lists = [];
    page.on('request', (r) => /\/api\/sessions\?/.test(r.url()) && lists.push(r.url()));
    await page.goto(`${n1.url}/sessions`);
    await rowOf(page, here.id).waitFor();
    await rowOf(page, there.id).waitFor();
    assert.ok(lists.some((u) => new URL(u).searchParams.get('scope') === 'fleet'), lists.join('\n'));
    // Each session names its node, in a column shown only on a fleet.
    assert.ok(await page.isVisible('#sessions thead th.node'));
    const cells = async (id) => rowOf(page, id).locator('td').allTextContents();
    assert.equal((await cells(here.id))[7], 'n1');
    assert.equal((await cells(there.id))[7], 'n2');
    assert.equal((await cells(there.id))[0], 'on-n2 <b>bold</b>');
    assert.equal(await rowOf(page, there.id).locator('b').count(), 0);
    // The link is the usual one; a session of another node is shared from its node.
    assert.equal(await rowOf(page, there.id).locator('td.name a').getAttribute('href'), `./?s=${there.id}`);
    assert.ok(await rowOf(page, here.id).locator('button.share').isVisible());
    assert.ok(await rowOf(page, there.id).locator('button.share').isHidden());

    // The Fleet panel: both nodes, this one marked, the other with its heartbeat.
    await nodeRow(page, 'n2').waitFor();
    assert.ok(await page.isVisible('#fleet'));
    assert.ok(await page.isHidden('#fleet-warning'));
    assert.ok(await page.isHidden('#list-partial'));
    const nodes = await page.$$eval('#fleet-nodes tbody tr', (rows) => rows.map((r) => r.dataset.node));
    assert.deepEqual(nodes, ['n1', 'n2']);
    assert.ok(await nodeRow(page, 'n1').getByText('this node').isVisible());
    assert.ok(await nodeRow(page, 'n2').getByText('this node').isHidden());
    const row = async (node) => nodeRow(page, node).locator('th, td').allTextContents();
    await page.waitForFunction(() => {
      const r = document.querySelector('#fleet-nodes tr[data-node="n2"]');
      return r?.cells[1].textContent === '1';
    });
    const [, sessions, clients, cpu, beat] = await row('n2');
    assert.deepEqual([sessions, clients], ['1', '0']);
    assert.match(cpu, /^\d+(\.\d)?%$/);
    assert.match(beat, /^\d+\.\d s ago$/);
    assert.match((await row('n1')).slice(1, 3).join(' '), /^1 0$/);
    assert.match(await nodeRow(page, 'n2').locator('th').getAttribute('title'), new RegExp(`^${n2.url} · ringtty `));
    await page.screenshot({ path: join(SHOTS, 'fleet.png'), fullPage: true });

    // A drained node says so in every node's panel (its heartbeat carries it).
    assert.equal((await api(n2, 'POST', 'admin/drain', undefined, { token: admin })).status, 202);
    await nodeRow(page, 'n2').locator('.badge-draining').waitFor({ timeout: 10_000 });
    assert.equal((await api(n2, 'DELETE', 'admin/drain', undefined, { token: admin })).status, 200);
    await nodeRow(page, 'n2').locator('.badge-draining').waitFor({ state: 'hidden', timeout: 10_000 });

    // At a phone's width the panel fits (the session table is issue 17's).
    await page.setViewportSize({ width: 390, height: 844 });
    const { panel, table } = await page.evaluate(() => ({
      panel: document.getElementById('fleet').getBoundingClientRect().right,
      table: document.getElementById('fleet-nodes').getBoundingClientRect().right,
    }));
    assert.ok(panel <= 390 && table <= panel, `the fleet panel overflows 390 px: panel ${panel}, table ${table}`);
    await page.screenshot({ path: join(SHOTS, 'fleet-390.png'), fullPage: true });
    await page.setViewportSize({ width: 1000, height: 600 });

    // n2's session opens from n1's dashboard: n1 redirects the page to n2.
    await rowOf(page, there.id).locator('td.name a').click();
    await page.waitForURL((u) => u.origin === n2.url && u.searchParams.get('s') === there.id);
    await waitForStatus(page, 'connected');
    await page.goBack();
    await rowOf(page, there.id).waitFor();

    // Kill and Remove reach the owner over the bus.
    const doomed = (await api(n2, 'POST', 'sessions', { name: 'doomed' })).json;
    const kill = rowOf(page, doomed.id).locator('button.kill');
    await kill.click();
    await kill.click();
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-id="${id}"]`)?.dataset.status === 'exited',
      doomed.id,
      { timeout: 15_000 },
    );
    await kill.click();
    await kill.click();
    await rowOf(page, doomed.id).waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal((await api(n2, 'GET', `sessions/${doomed.id}`)).status, 404);

    // The bus goes down: the panel warns, and the list is n1's alone, marked so.
    await nats.stop();
    await page.locator('#fleet-warning').waitFor({ timeout: 15_000 });
    assert.match(await page.textContent('#fleet-warning'), /fleet bus unreachable: showing this node only/i);
    await rowOf(page, there.id).waitFor({ state: 'detached', timeout: 10_000 });
    await page.locator('#list-partial').waitFor();
    assert.match(await page.textContent('#list-partial'), /^Incomplete list: (only this node answered|no answer from node n2)\.$/);
    assert.ok(await rowOf(page, here.id).isVisible());
    await page.screenshot({ path: join(SHOTS, 'fleet-bus-down.png'), fullPage: true });
    // n2 is forgotten once its heartbeats stop; the list then says n1 alone answered.
    await nodeRow(page, 'n2').waitFor({ state: 'detached', timeout: 10_000 });
    await page.waitForFunction(
      () => document.getElementById('list-partial').textContent === 'Incomplete list: only this node answered.',
    );
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
});
