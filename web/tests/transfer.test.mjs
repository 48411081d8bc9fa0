// File transfer through the terminal (issue 17): trzsz (`trz`/`tsz`) and ZMODEM
// (`rz`/`sz` of lrzsz) round trips of a random file larger than the flow-control window,
// checked with SHA-256 on both sides; a cancel mid-transfer; the options' gates.
//
// Needs lrzsz (`apt-get install lrzsz`) and trzsz (`pip install trzsz`) on PATH: the
// tests skip without them, unless REQUIRE_TRANSFER_TOOLS=1 (.ci/run sets it) makes
// that a failure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SHELL, SHOTS, launchBrowser, newPage, openTerminal, run, screenLines, startServer, waitForLine } from './lib.mjs';

const TOOLS = ['rz', 'sz', 'trz', 'tsz'];
const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const skip =
  missing.length > 0 && process.env.REQUIRE_TRANSFER_TOOLS !== '1'
    ? `${missing.join(', ')} not on PATH: apt-get install lrzsz; pip install trzsz (.ci/run installs both)`
    : false;

/** Larger than the server's 1 MiB flow-control window, so acks must advance. */
const SIZE = 2 * 1024 * 1024 + 123;

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

let browser;
let dir;
let server;
let source;
before(async () => {
  if (skip) return;
  assert.deepEqual(missing, [], `transfer tools missing with REQUIRE_TRANSFER_TOOLS=1: ${missing.join(', ')}`);
  dir = mkdtempSync(join(tmpdir(), 'ringtty-transfer-'));
  source = randomBytes(SIZE);
  writeFileSync(join(dir, 'source.bin'), source);
  writeFileSync(join(dir, 'big.bin'), randomBytes(48 * 1024 * 1024));
  browser = await launchBrowser();
  server = await startServer(['-W', '-t', 'enableTrzsz=true', '-t', 'enableZmodem=true', ...SHELL]);
});
after(async () => {
  await server?.stop();
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A terminal page with the shell in a fresh directory `name` under the test's. */
async function terminalIn(name) {
  const page = await newPage(browser, { server });
  await openTerminal(page, server.url);
  const cwd = join(dir, name);
  mkdirSync(cwd);
  await run(page, `cd ${cwd} && clear`);
  // The shell is back at its prompt in the new directory (clear leaves only that).
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#terminal .xterm-rows > div')].map((r) => r.textContent.trimEnd());
    return rows[0] === 'rt$' && rows.slice(1).every((r) => r === '');
  });
  return { page, cwd };
}

/** Waits for the panel to ask `title`. */
async function panelAsks(page, title) {
  await page.waitForFunction((t) => {
    const box = document.getElementById('transfer');
    return box && !box.hidden && document.getElementById('transfer-title').textContent === t;
  }, title);
}

/** Waits for the panel's final word; returns its title. */
async function panelEnds(page, timeout = 60_000) {
  await page.waitForFunction(() => {
    const kind = document.getElementById('transfer')?.dataset.kind;
    return kind === 'done' || kind === 'error';
  }, undefined, { timeout });
  return page.textContent('#transfer-title');
}

/** Picks `file` in the panel's file chooser. */
async function chooseFile(page, file) {
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser'),
    page.click('#transfer button:text-is("Choose files…")'),
  ]);
  await chooser.setFiles(file);
}

/** Answers "Receive" and returns the bytes the browser downloaded, and their name. */
async function receive(page) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.click('#transfer button:text-is("Receive")'),
  ]);
  const path = await download.path();
  return { name: download.suggestedFilename(), bytes: readFileSync(path) };
}

/** Waits until `path` holds `size` bytes (the program has written it all). */
async function fileOnDisk(page, path, size) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (existsSync(path) && statSync(path).size === size) return readFileSync(path);
    await page.waitForTimeout(100);
  }
  // What is there, and what the terminal says, for whoever reads the failure.
  const where = dirname(path);
  const files = existsSync(where) ? readdirSync(where).map((f) => `${f}: ${statSync(join(where, f)).size} B`) : [];
  const screen = (await screenLines(page)).filter((l) => l).join('\n');
  throw new Error(`${path} did not reach ${size} bytes; ${where} holds [${files.join(', ')}]; the screen:\n${screen}`);
}

/** The terminal still works: a command typed runs and its output shows. First the
 * shell's prompt: keys typed while the program still holds the terminal may be
 * flushed by it as it restores the terminal's modes on exit. */
async function stillUsable(page) {
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#terminal .xterm-rows > div')].map((r) => r.textContent.trimEnd());
    const last = rows.filter((r) => r !== '').pop() ?? '';
    return last.endsWith('rt$');
  }, undefined, { timeout: 20_000 });
  await run(page, 'echo usable-$((6*7))');
  await waitForLine(page, /^usable-42$/, 20_000);
}

describe('file transfer (ringtty -W -t enableTrzsz=true -t enableZmodem=true bash)', { skip }, () => {
  test('ZMODEM download: sz sends a file, the browser saves it unchanged', async () => {
    const { page } = await terminalIn('sz');
    await run(page, `sz ${join(dir, 'source.bin')}`);
    await panelAsks(page, 'A program is sending files (ZMODEM)');
    const { name, bytes } = await receive(page);
    assert.equal(name, 'source.bin');
    assert.equal(bytes.length, SIZE);
    assert.equal(sha256(bytes), sha256(source));
    assert.match(await panelEnds(page), /^Downloaded 1 file/);
    await stillUsable(page);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('ZMODEM upload: rz receives a file picked in the file chooser; Cancel answers rz', async () => {
    const { page, cwd } = await terminalIn('rz');
    await run(page, 'rz');
    await panelAsks(page, 'rz is waiting for files');
    await chooseFile(page, join(dir, 'source.bin'));
    assert.match(await panelEnds(page), /^Uploaded 1 file/);
    const bytes = await fileOnDisk(page, join(cwd, 'source.bin'), SIZE);
    assert.equal(sha256(bytes), sha256(source));
    await stillUsable(page);
    // Cancel in the panel: rz gets ZMODEM's abort and exits.
    await run(page, 'clear; rz');
    await panelAsks(page, 'rz is waiting for files');
    await page.click('#transfer button:text-is("Cancel")');
    assert.equal(await page.isHidden('#transfer'), true);
    await stillUsable(page);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('trzsz download: tsz sends a file, the browser saves it unchanged', async () => {
    const { page } = await terminalIn('tsz');
    await run(page, `tsz ${join(dir, 'source.bin')}`);
    await panelAsks(page, 'A program is sending files (trzsz)');
    const { name, bytes } = await receive(page);
    assert.equal(name, 'source.bin');
    assert.equal(sha256(bytes), sha256(source));
    assert.match(await panelEnds(page), /^Downloaded 1 file/);
    await stillUsable(page);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('trzsz upload: trz receives a file picked in the file chooser', async () => {
    const { page, cwd } = await terminalIn('trz');
    await run(page, 'trz');
    await panelAsks(page, 'trz is waiting for files');
    await chooseFile(page, join(dir, 'source.bin'));
    assert.match(await panelEnds(page), /^Uploaded 1 file/);
    const bytes = await fileOnDisk(page, join(cwd, 'source.bin'), SIZE);
    assert.equal(sha256(bytes), sha256(source));
    await page.screenshot({ path: join(SHOTS, 'transfer-trz.png') });
    await stillUsable(page);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('trzsz folder: trz -d receives a folder picked in the chooser; Cancel answers trz', async () => {
    const { page, cwd } = await terminalIn('trz-d');
    const folder = join(dir, 'folder');
    mkdirSync(join(folder, 'sub'), { recursive: true });
    const files = { 'a.bin': randomBytes(70_000), 'sub/b.bin': randomBytes(1_234) };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(folder, name), bytes);
    await run(page, 'trz -d');
    await panelAsks(page, 'trz -d is waiting for a folder');
    const [chooser] = await Promise.all([
      page.waitForEvent('filechooser'),
      page.click('#transfer button:text-is("Choose a folder…")'),
    ]);
    await chooser.setFiles(folder);
    assert.match(await panelEnds(page), /^Uploaded 2 files/);
    for (const [name, bytes] of Object.entries(files)) {
      assert.equal(sha256(await fileOnDisk(page, join(cwd, 'folder', name), bytes.length)), sha256(bytes), name);
    }
    await stillUsable(page);
    // Cancel in the panel: trz is told, and the shell is back.
    await run(page, 'trz');
    await panelAsks(page, 'trz is waiting for files');
    await page.click('#transfer button:text-is("Cancel")');
    assert.equal(await page.isHidden('#transfer'), true);
    await waitForLine(page, /Cancelled/);
    await stillUsable(page);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('trzsz drag and drop: a file dropped onto the terminal is uploaded with trz', async () => {
    const { page, cwd } = await terminalIn('drop');
    // A real drop (Chromium's input pipeline, with the file's path), as a user's.
    const cdp = await page.context().newCDPSession(page);
    const box = await page.locator('#terminal').boundingBox();
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const data = { items: [], files: [join(dir, 'source.bin')], dragOperationsMask: 1 };
    for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
    assert.match(await panelEnds(page), /^Uploaded 1 file/);
    const bytes = await fileOnDisk(page, join(cwd, 'source.bin'), SIZE);
    assert.equal(sha256(bytes), sha256(source));
    await stillUsable(page);
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('two tabs on one session: only the one typing answers sz; a reload replays it without asking', async () => {
    const { page: a } = await terminalIn('two-tabs');
    const id = new URL(a.url()).searchParams.get('s');
    const b = await newPage(browser, { server });
    await b.goto(`${server.url}/?rendererType=dom&s=${id}`);
    await waitForLine(b, /rt\$/);
    let bDownloads = 0;
    b.on('download', () => (bDownloads += 1));
    await a.click('#terminal');
    await run(a, `sz ${join(dir, 'source.bin')}`);
    await panelAsks(a, 'A program is sending files (ZMODEM)');
    const { bytes } = await receive(a);
    assert.equal(sha256(bytes), sha256(source));
    assert.match(await panelEnds(a), /^Downloaded 1 file/);
    await stillUsable(a);
    assert.equal(await b.$eval('#transfer', (el) => el.hidden).catch(() => true), true, 'the other tab asks nothing');
    // A reload replays the scrollback, sz's start included: nothing is asked again.
    await b.reload();
    await waitForLine(b, /usable-42/);
    await b.waitForTimeout(500);
    assert.equal(await b.$eval('#transfer', (el) => el.hidden).catch(() => true), true, 'the replay asks nothing');
    assert.equal(bDownloads, 0);
    assert.deepEqual(a.problems(), []);
    assert.deepEqual(b.problems(), []);
    await a.close();
    await b.close();
  });

  for (const [protocol, command, question, how] of [
    ['ZMODEM', 'sz', 'A program is sending files (ZMODEM)', 'the Cancel button'],
    ['trzsz', 'tsz', 'A program is sending files (trzsz)', 'Ctrl+C'],
  ]) {
    test(`${protocol}: ${how} in the middle of a download leaves the terminal usable`, async () => {
      const { page } = await terminalIn(`cancel-${command}`);
      let downloads = 0;
      page.on('download', () => (downloads += 1));
      await run(page, `${command} ${join(dir, 'big.bin')}`);
      await panelAsks(page, question);
      await page.click('#transfer button:text-is("Receive")');
      // Mid-transfer: some bytes in, not all.
      await page.waitForFunction(() => /^\S+ \S+ of /.test(document.getElementById('transfer-detail').textContent));
      await page.screenshot({ path: join(SHOTS, `transfer-progress-${command}.png`) });
      if (how === 'Ctrl+C') await page.keyboard.press('Control+C'); // the terminal has the focus
      else await page.click('#transfer button:text-is("Cancel")');
      assert.equal(await panelEnds(page), 'Cancelled');
      await stillUsable(page);
      assert.equal(downloads, 0, 'nothing saved');
      assert.deepEqual(page.problems(), []);
      await page.close();
    });
  }
});

describe('file transfer is off unless asked for', () => {
  test('the default page fetches none of it; a read-only page never, even when asked', async () => {
    const writable = await startServer(['-W', ...SHELL]);
    const readOnly = await startServer(['-t', 'enableZmodem=true', ...SHELL]);
    try {
      for (const [srv, query] of [
        [writable, 'rendererType=dom'],
        [readOnly, 'rendererType=dom&enableTrzsz=true'],
      ]) {
        const page = await newPage(browser ?? (browser = await launchBrowser()), { server: srv });
        const fetched = [];
        page.on('request', (r) => fetched.push(new URL(r.url()).pathname));
        await page.goto(`${srv.url}/?${query}`);
        await page.waitForURL(/[?&]s=/);
        await page.waitForFunction(() => document.getElementById('status-state')?.textContent === 'connected');
        assert.deepEqual(
          fetched.filter((p) => /\/(transfers|trzsz|zmodem)-/.test(p)),
          [],
          `${query}: no transfer code fetched`,
        );
        assert.equal(await page.$('#transfer'), null);
        assert.deepEqual(page.problems(), []);
        await page.close();
      }
    } finally {
      await writable.stop();
      await readOnly.stop();
    }
  });
});
