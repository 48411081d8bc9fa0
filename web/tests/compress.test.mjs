// WebSocket compression (--compress, permessage-deflate, issue 17): Chromium offers the
// extension by itself; with --compress the terminal's socket negotiates it (and the
// terminal works through it), without the flag it does not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SHELL, launchBrowser, newPage, openTerminal, run, startServer, waitForLine } from './lib.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** The `extensions` of every WebSocket the page opened (recorded from its constructor). */
async function watchSockets(page) {
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
  });
  return () => page.evaluate(() => window.__sockets.filter((s) => s.readyState === 1).map((s) => s.extensions));
}

for (const [flags, want] of [
  [['--compress'], /^permessage-deflate/],
  [[], /^$/],
]) {
  describe(`ringtty ${flags.join(' ') || '(no --compress)'}`, () => {
    let server;
    before(async () => {
      server = await startServer([...flags, '-W', ...SHELL]);
    });
    after(async () => {
      await server?.stop();
    });

    test('the terminal socket negotiates compression only with the flag, and the terminal works', async () => {
      const page = await newPage(browser, { server });
      const extensions = await watchSockets(page);
      await openTerminal(page, server.url);
      const open = await extensions();
      assert.equal(open.length, 1, `one open socket: ${JSON.stringify(open)}`);
      assert.match(open[0], want);
      // A listing's worth of output (compressed with the flag), then typed input.
      await run(page, 'seq -f "drwxr-xr-x 2 root root 4096 /usr/share/dir-%g" 1 3000; echo done-$((6*7))');
      await waitForLine(page, /^done-42$/, 30_000);
      assert.ok((await page.textContent('#terminal')).includes('/usr/share/dir-3000'));
      assert.deepEqual(page.problems(), []);
      await page.close();
    });
  });
}
