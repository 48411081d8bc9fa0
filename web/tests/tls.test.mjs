// The web UI over HTTPS and WSS (ringtty -S -C -K) in a browser that trusts the test CA
// the way a user's would: the CA is imported into the NSS database of the browser's
// HOME ($HOME/.pki/nssdb, where Chromium on Linux looks for locally added roots). No
// certificate error is ignored: a browser without that database refuses the server.
//
// The CA and the server's certificate (localhost, 127.0.0.1) are made with the openssl
// CLI in a temporary directory at test time; no key is committed. Needs `openssl` and
// `certutil` (Debian: libnss3-tools).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  SHELL,
  SHOTS,
  launchBrowser,
  newPage,
  run,
  startServer,
  waitForLine,
  waitForStatus,
} from './lib.mjs';

const CA_NAME = 'ringtty browser test CA';

/** Runs a tool, failing with its output (and how to install it, if it is missing). */
function tool(cmd, args, install) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error(`${cmd} not found: ${install}`);
    throw new Error(`${cmd} ${args.join(' ')} failed (${e.status}):\n${e.stdout}${e.stderr}`);
  }
}
const openssl = (...args) => tool('openssl', args, 'apt-get install openssl');
const certutil = (...args) => tool('certutil', args, 'apt-get install libnss3-tools');

/** A throwaway CA and a certificate it signed for localhost and 127.0.0.1, in `dir`. */
function makeCertificates(dir) {
  const f = (name) => join(dir, name);
  const ecKey = (out) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out);
  ecKey(f('ca.key'));
  openssl(
    'req', '-x509', '-new', '-key', f('ca.key'), '-sha256', '-days', '2', '-subj', `/CN=${CA_NAME}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-out', f('ca.pem'),
  );
  ecKey(f('key.pem'));
  openssl('req', '-new', '-key', f('key.pem'), '-subj', '/CN=localhost', '-out', f('server.csr'));
  writeFileSync(
    f('server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '',
    ].join('\n'),
  );
  openssl(
    'x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-CAserial', f('ca.srl'), '-days', '2', '-sha256',
    '-extfile', f('server.ext'), '-out', f('cert.pem'),
  );
  return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
}

/** A HOME whose NSS database trusts `ca` to identify web sites (and nothing else). */
function homeTrusting(dir, ca) {
  const home = join(dir, 'home');
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  certutil('-N', '-d', `sql:${db}`, '--empty-password');
  certutil('-A', '-d', `sql:${db}`, '-n', CA_NAME, '-t', 'C,,', '-i', ca);
  assert.match(certutil('-L', '-d', `sql:${db}`), new RegExp(`${CA_NAME}\\s+C,,`));
  return home;
}

describe('HTTPS and WSS (ringtty -S -C -K), the test CA trusted through NSS', () => {
  let dir;
  let files;
  let browser;
  let server;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ringtty-tls-'));
    files = makeCertificates(dir);
    browser = await launchBrowser({ env: { HOME: homeTrusting(dir, files.ca) } });
    server = await startServer(['-S', '-C', files.cert, '-K', files.key, '-W', ...SHELL]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the https login link: a Secure HttpOnly cookie, wss://, typing works', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.loginUrl, /^https:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+\.[\w-]+\.[\w-]+$/);
    // No cookie beforehand: the browser signs in through the link itself.
    const page = await newPage(browser, { server, login: false });
    const sockets = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const response = await page.goto(`${server.loginUrl}&rendererType=dom`);
    // The connection is TLS with the certificate made above.
    const security = await response.securityDetails();
    assert.equal(security?.issuer, CA_NAME, JSON.stringify(security));
    assert.equal(security?.subjectName, 'localhost', JSON.stringify(security));
    assert.match(security?.protocol ?? '', /^TLS 1\.[23]$/, JSON.stringify(security));

    await page.waitForURL((u) => u.pathname === '/' && u.searchParams.has('s'));
    assert.equal(new URL(page.url()).protocol, 'https:');
    assert.equal(await page.evaluate(() => location.href.includes('token')), false, page.url());
    await waitForStatus(page, 'connected');
    await waitForLine(page, /rt\$/);
    await page.click('#terminal');
    await run(page, 'echo tls-$((6*7))');
    await waitForLine(page, /^tls-42$/);

    // The terminal's socket is WSS to the same host and port.
    assert.ok(sockets.length >= 1, 'the page opened a WebSocket');
    for (const s of sockets) {
      const u = new URL(s);
      assert.equal(u.protocol, 'wss:', s);
      assert.equal(u.host, new URL(server.url).host, s);
    }
    // The login cookie: Secure and HttpOnly, as the browser holds it.
    const cookie = (await page.context().cookies()).find((c) => c.name === 'ringtty_token');
    assert.ok(cookie, 'the login link set the cookie');
    assert.equal(cookie.secure, true);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /ringtty_token/);

    await page.screenshot({ path: join(SHOTS, 'terminal-tls.png') });
    assert.deepEqual(page.problems(), []);
    await page.close();
  });

  test('the certificate also names localhost; a browser without the CA refuses it', async () => {
    const port = new URL(server.url).port;
    const page = await newPage(browser);
    const response = await page.goto(`https://localhost:${port}/login`);
    assert.equal(response.status(), 200);
    assert.equal((await response.securityDetails())?.issuer, CA_NAME);
    await page.close();

    // The same Chromium without that NSS database: the trust above is the CA's, not a
    // switch that turns certificate checks off.
    const untrusting = await launchBrowser();
    try {
      const other = await newPage(untrusting);
      await assert.rejects(other.goto(`${server.url}/login`), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await untrusting.close();
    }
  });
});
