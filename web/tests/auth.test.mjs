// Authentication in a real browser (issue 12): the login link, the login page (token and
// password), log out, a lost login, read-only share links (also clicked on another
// site), and --no-auth.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
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

const PHONE = { width: 390, height: 844 };

/** The page's own cookie as the browser holds it (flags included). */
async function tokenCookie(page) {
  return (await page.context().cookies()).find((c) => c.name === 'ringtty_token');
}

/** Nothing sticks out sideways: the page fits the viewport's width. */
async function fitsWidth(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

const loginPage = (page) => page.waitForURL((u) => u.pathname.endsWith('/login'));

test('the login link: /?token= ends at / without the token, in an HttpOnly cookie; log out', async () => {
  const server = await startServer(['-W', ...SHELL]);
  try {
    assert.match(server.loginUrl, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+\.[\w-]+\.[\w-]+$/);
    const page = await newPage(browser, { server, login: false });
    await page.goto(`${server.loginUrl}&rendererType=dom`);
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.has('s'));
    assert.equal(await page.evaluate(() => location.href.includes('token')), false, page.url());
    assert.equal(new URL(page.url()).searchParams.get('rendererType'), 'dom');
    // The cookie: HttpOnly (no script sees it), SameSite=Strict, for the base path.
    const cookie = await tokenCookie(page);
    assert.ok(cookie, 'the login link set the cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/');
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /ringtty_token/);
    // The terminal works.
    await waitForStatus(page, 'connected');
    await waitForLine(page, /rt\$/);
    await page.click('#terminal');
    await run(page, 'echo logged-in-$((6*7))');
    await waitForLine(page, /^logged-in-42$/);
    // Who is logged in: the login link's owner, an admin, who may share.
    assert.equal(await page.textContent('#user .user-name'), 'owner');
    assert.ok(await page.isVisible('#user .badge-admin'));
    assert.ok(!(await page.isVisible('#user .badge-readonly')));
    assert.ok(await page.isVisible('#share'));
    await page.screenshot({ path: join(SHOTS, 'terminal-logged-in.png') });

    // Log out: back to the login page, the cookie gone, and / asks for a login again.
    await page.click('#user button.logout');
    await loginPage(page);
    assert.equal(await tokenCookie(page), undefined);
    await page.goto(`${server.url}/`);
    await loginPage(page);
    assert.equal(new URL(page.url()).searchParams.get('next'), '/');
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('without a cookie / lands on the login page, which takes the token or the login link', async () => {
  const server = await startServer(['-W', ...SHELL]);
  try {
    const page = await newPage(browser, { server, login: false, viewport: PHONE });
    await page.goto(`${server.url}/?rendererType=dom`);
    await loginPage(page);
    assert.equal(new URL(page.url()).searchParams.get('next'), '/?rendererType=dom');
    // No passwords on this server: the token field only, labelled.
    await page.getByLabel('Token or login link').waitFor();
    assert.ok(!(await page.isVisible('#password-form')));
    assert.ok(await fitsWidth(page), 'the login page fits 390 px');
    await page.screenshot({ path: join(SHOTS, 'login-token.png') });

    // A wrong token is refused, and says so.
    await page.getByLabel('Token or login link').fill('not.a-token.at-all');
    await page.click('#token-submit');
    await page.waitForFunction(() => /token is not valid/.test(document.getElementById('login-error').textContent));
    assert.equal(await tokenCookie(page), undefined);

    // The whole login link, pasted: logged in, and on to `next`.
    await page.getByLabel('Token or login link').fill(server.loginUrl);
    await page.click('#token-submit');
    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.has('s'));
    assert.equal(new URL(page.url()).searchParams.get('rendererType'), 'dom');
    await waitForStatus(page, 'connected');
    assert.ok((await tokenCookie(page))?.httpOnly);
    assert.ok(await fitsWidth(page), 'the terminal page fits 390 px');
    await page.screenshot({ path: join(SHOTS, 'terminal-phone-logged-in.png') });

    // The dashboard too; and `next` never leads off this origin.
    const dash = await newPage(browser, { server, login: false });
    await dash.goto(`${server.url}/sessions`);
    await loginPage(dash);
    assert.equal(new URL(dash.url()).searchParams.get('next'), '/sessions');
    await dash.goto(`${server.url}/login?next=${encodeURIComponent('//example.com/sessions')}`);
    await dash.getByLabel('Token or login link').fill(server.token);
    await dash.click('#token-submit');
    await dash.waitForURL((u) => u.origin === server.url && u.pathname === '/');
    assert.deepEqual(page.problems(), []);
    assert.deepEqual(dash.problems(), []);
    await page.close();
    await dash.close();
  } finally {
    await server.stop();
  }
});

test('-c user:password: the login form logs in, a wrong password is refused, log out', async () => {
  const server = await startServer(['-W', '-c', 'alice:correct horse', ...SHELL]);
  try {
    const page = await newPage(browser, { server, login: false, viewport: PHONE });
    await page.goto(`${server.url}/sessions`);
    await loginPage(page);
    await page.getByLabel('User').waitFor();
    assert.ok(await page.isVisible('#token-form'), 'a token works with passwords too');
    assert.ok(await fitsWidth(page));
    await page.screenshot({ path: join(SHOTS, 'login-password.png') });

    await page.getByLabel('User').fill('alice');
    await page.getByLabel('Password').fill('wrong horse');
    await page.click('#login-submit');
    await page.waitForFunction(() => /wrong user name or password/.test(document.getElementById('login-error').textContent));
    assert.equal(await tokenCookie(page), undefined);

    await page.getByLabel('Password').fill('correct horse');
    await page.click('#login-submit');
    await page.waitForURL((u) => u.pathname === '/sessions');
    assert.ok((await tokenCookie(page))?.httpOnly);
    await page.waitForFunction(() => document.querySelector('#user .user-name')?.textContent === 'alice');
    assert.ok(!(await page.isVisible('#user .badge-admin')));

    // The terminal opens as alice.
    await page.click('#create button[type=submit]');
    await page.waitForURL(/[?&]s=/);
    await waitForStatus(page, 'connected');
    assert.equal(await page.textContent('#user .user-name'), 'alice');

    await page.click('#user button.logout');
    await loginPage(page);
    assert.equal(await tokenCookie(page), undefined);
    await page.goto(`${server.url}/sessions`);
    await loginPage(page);
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('failed logins are rate limited: the login page shows Retry-After and waits', async () => {
  const server = await startServer(['-W', '-c', 'alice:pw', ...SHELL]);
  try {
    const page = await newPage(browser, { server, login: false });
    let retryAfter = null;
    page.on('response', (r) => {
      if (r.request().method() === 'POST' && r.status() === 429) retryAfter = r.headers()['retry-after'];
    });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('User').fill('alice');
    await page.getByLabel('Password').fill('guess');
    const limited = () => /too many attempts/i.test(document.getElementById('login-error').textContent);
    for (let i = 0; ; i++) {
      assert.ok(i < 50, 'the server limits failed logins');
      await page.click('#login-submit');
      // Answered: the button is back, or the limit holds it.
      await page.waitForFunction(
        () =>
          !document.getElementById('login-submit').disabled ||
          /too many attempts/i.test(document.getElementById('login-error').textContent),
      );
      if (await page.evaluate(limited)) break;
      assert.match(await page.textContent('#login-error'), /wrong user name or password/);
      await page.getByLabel('Password').fill('guess');
    }
    assert.match(retryAfter ?? '', /^\d+$/, 'a 429 carries Retry-After');
    const text = await page.textContent('#login-error');
    const shown = Number(text.match(/retry in (\d+) s/i)?.[1]);
    assert.ok(shown >= Number(retryAfter) - 2 && shown <= Number(retryAfter), `${text} for Retry-After ${retryAfter}`);
    // The forms wait out the limit.
    assert.ok(await page.isDisabled('#login-submit'));
    assert.ok(await page.isDisabled('#token-submit'));
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('a lost login sends the dashboard and the terminal to the login page', async () => {
  const server = await startServer(['-W', ...SHELL]);
  try {
    const dash = await newPage(browser, { server });
    await dash.goto(`${server.url}/sessions`);
    await dash.locator('#user .user-name').waitFor();
    await dash.context().clearCookies();
    // The next poll answers 401.
    await loginPage(dash);
    assert.equal(new URL(dash.url()).searchParams.get('next'), '/sessions');

    const page = await newPage(browser, { server });
    const { sockets } = await recordWebSockets(page);
    const id = await openTerminal(page, server.url);
    await page.context().clearCookies();
    await sockets[0].close({ code: 4000, reason: 'test: network blip' });
    await loginPage(page);
    const next = new URL(page.url()).searchParams.get('next');
    assert.equal(new URL(next, server.url).searchParams.get('s'), id);
    assert.deepEqual(dash.problems(), []);
    assert.deepEqual(page.problems(), []);
    await dash.close();
    await page.close();
  } finally {
    await server.stop();
  }
});

/** The owner's terminal, with `echo shared-42` on screen and a share link made by the
 * Share button. */
async function shareFromTerminal(server) {
  const page = await newPage(browser, { server });
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  const id = await openTerminal(page, server.url);
  await run(page, 'echo shared-$((6*7))');
  await waitForLine(page, /^shared-42$/);
  await page.click('#share');
  await page.waitForSelector('#share-dialog[open]');
  const link = await page.inputValue('#share-url');
  assert.match(link, new RegExp(`^${server.url}/\\?s=${id}&token=[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));
  assert.match(await page.textContent('#share-expiry'), /^Expires /);
  await page.screenshot({ path: join(SHOTS, 'share-dialog.png') });
  await page.click('#share-copy');
  await page.waitForFunction(async (l) => (await navigator.clipboard.readText()) === l, link);
  await page.click('#share-close');
  assert.ok(!(await page.isVisible('#share-dialog')));
  return { page, id, link };
}

test('share: a second browser opens the read-only link, watches, cannot type, sees only that session', async () => {
  const server = await startServer(['-W', ...SHELL]);
  try {
    const other = await api(server, 'POST', 'sessions', { name: 'not-shared' });
    assert.equal(other.status, 201);
    const { page: owner, id, link } = await shareFromTerminal(server);

    const guest = await newPage(browser, { server, login: false });
    await guest.goto(`${link}&rendererType=dom`);
    await guest.waitForURL((u) => u.searchParams.get('s') === id && !u.searchParams.has('token'));
    await waitForStatus(guest, 'connected');
    await waitForLine(guest, /^shared-42$/);
    assert.equal(await guest.textContent('#status-role'), 'read-only');
    assert.ok(await guest.isVisible('#readonly-link'));
    assert.ok(await guest.isVisible('#user .badge-readonly'));
    assert.equal(await guest.textContent('#user .user-name'), 'link from owner');
    assert.ok(!(await guest.isVisible('#share')), 'no Share for a read-only login');
    assert.ok((await tokenCookie(guest))?.httpOnly);

    // Typing reaches nothing: no echo, no output.
    const before = (await api(server, 'GET', `sessions/${id}`)).json.offset;
    await guest.click('#terminal');
    await run(guest, 'echo typed-$((5*5))');
    await guest.waitForTimeout(1500);
    assert.ok(!(await screenLines(guest)).some((l) => l.includes('typed-')));
    assert.equal((await api(server, 'GET', `sessions/${id}`)).json.offset, before);
    // The owner's typing still reaches the guest.
    await owner.click('#terminal');
    await run(owner, 'echo owner-again');
    await waitForLine(guest, /^owner-again$/);
    await guest.screenshot({ path: join(SHOTS, 'terminal-shared-read-only.png') });

    // Its dashboard lists that one session, and offers no way to start or kill one.
    await guest.goto(`${server.url}/sessions`);
    await guest.locator(`#sessions tbody tr[data-id="${id}"]`).waitFor();
    const ids = await guest.$$eval('#sessions tbody tr', (rows) => rows.map((r) => r.dataset.id));
    assert.deepEqual(ids, [id]);
    assert.ok(!(await guest.isVisible('#create')));
    assert.ok(!(await guest.isVisible(`tr[data-id="${id}"] button.kill`)));
    assert.ok(!(await guest.isVisible(`tr[data-id="${id}"] button.share`)));
    // A bare / shows the shared session rather than starting one.
    await guest.goto(`${server.url}/?rendererType=dom`);
    await guest.waitForURL((u) => u.searchParams.get('s') === id);
    await waitForLine(guest, /^owner-again$/);

    // The owner's dashboard: both sessions, each with Share.
    await owner.goto(`${server.url}/sessions`);
    await owner.locator(`tr[data-id="${other.json.id}"] button.share`).waitFor();
    await owner.click(`tr[data-id="${id}"] button.share`);
    await owner.waitForSelector('#share-dialog[open]');
    assert.match(await owner.inputValue('#share-url'), new RegExp(`/\\?s=${id}&token=`));
    assert.deepEqual(owner.problems(), []);
    assert.deepEqual(guest.problems(), []);
    await owner.close();
    await guest.close();
  } finally {
    await server.stop();
  }
});

test('a share link clicked on another site still ends logged in (SameSite=Strict)', async () => {
  const server = await startServer(['-W', ...SHELL]);
  // Another origin (localhost is another site than 127.0.0.1) with a link to the share.
  let href = '';
  const site = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>elsewhere</title><a id="go" href="${href}">the shared terminal</a>`);
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  try {
    const { page: owner, id, link } = await shareFromTerminal(server);
    href = `${link}&rendererType=dom`.replace(/&/g, '&amp;');
    const guest = await newPage(browser, { server, login: false });
    await guest.goto(`http://localhost:${site.address().port}/`);
    await guest.click('#go');
    await guest.waitForURL(
      (u) => u.origin === server.url && u.searchParams.get('s') === id && !u.searchParams.has('token'),
    );
    await waitForStatus(guest, 'connected');
    await waitForLine(guest, /^shared-42$/);
    assert.equal(await guest.textContent('#status-role'), 'read-only');
    assert.equal((await tokenCookie(guest))?.sameSite, 'Strict');
    assert.deepEqual(guest.problems(), []);
    await owner.close();
    await guest.close();
  } finally {
    site.close();
    await server.stop();
  }
});

test('--no-auth: no login, no user, no Share', async () => {
  const server = await startServer(['-W', '--no-auth', ...SHELL]);
  try {
    assert.equal(server.loginUrl, undefined);
    assert.doesNotMatch(server.stdout(), /Login:/);
    const auth = await api(server, 'GET', 'auth');
    assert.deepEqual(auth.json, { enabled: false, passwords: false, user: null });
    const page = await newPage(browser, { server });
    await openTerminal(page, server.url);
    await run(page, 'echo open-$((2*2))');
    await waitForLine(page, /^open-4$/);
    assert.ok(!(await page.isVisible('#user')));
    assert.ok(!(await page.isVisible('#share')));
    await page.goto(`${server.url}/sessions`);
    await page.locator('#sessions tbody tr[data-id]').first().waitFor();
    assert.equal(await page.locator('#sessions button.share:visible').count(), 0);
    assert.ok(!(await page.isVisible('#user')));
    await page.goto(`${server.url}/login`);
    await page.waitForFunction(() => /does not ask for a login/.test(document.getElementById('login-state').textContent));
    assert.deepEqual(page.problems(), []);
    await page.close();
  } finally {
    await server.stop();
  }
});
