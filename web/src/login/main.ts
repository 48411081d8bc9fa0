// The login page (`/login`, open without a credential): a user name and password form
// when the server checks passwords, and always a token field (a token, or the login
// link ringtty printed). Both post JSON to `./login`; the server answers 204 with the
// HttpOnly cookie, and the page goes on to `?next=` (the page that sent us here).
import '../style.css';
import { authInfo, type AuthInfo } from '../common/auth';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/**
 * Where to go once logged in: `next` when it is a path on this origin, else the
 * terminal page. A path starting `//` or `/\` would be another host to a browser
 * (and tabs and newlines are dropped from URLs, so `/\t/host` is `//host`): only what
 * still resolves to this origin after parsing is followed.
 */
function nextTarget(next: string | null): string {
  const fallback = new URL('./', location.href).href;
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  if (/[\u0000-\u001f\u007f]/.test(next)) return fallback;
  let url: URL;
  try {
    url = new URL(next, location.origin);
  } catch {
    return fallback;
  }
  if (url.origin !== location.origin) return fallback;
  // Back to this page would only show it again.
  if (url.pathname === location.pathname) return fallback;
  // The token never travels on.
  url.searchParams.delete('token');
  return url.href;
}

/** What the token field holds: a bare token, or a link with `?token=` (whose page,
 * when it is on this server, is where to go next). */
function readToken(text: string): { token: string; page: string | null } {
  const value = text.trim();
  if (!/[/?=]/.test(value)) return { token: value, page: null };
  let url: URL;
  try {
    url = new URL(value, location.href);
  } catch {
    return { token: value, page: null };
  }
  const token = url.searchParams.get('token');
  if (!token) return { token: value, page: null };
  url.searchParams.delete('token');
  const page = url.origin === location.origin ? url.pathname + url.search : null;
  return { token, page };
}

function setError(text: string): void {
  $('login-error').textContent = text;
}

let retryTimer: number | undefined;

/** Both forms' submit buttons, off while a request is out or a rate limit runs. */
function setBusy(busy: boolean): void {
  for (const id of ['login-submit', 'token-submit']) $<HTMLButtonElement>(id).disabled = busy;
}

/** `POST ./login`; on 204 the cookie is set and the page moves on to `target`. */
async function login(body: Record<string, string>, target: string): Promise<void> {
  setBusy(true);
  setError('');
  let response: Response;
  try {
    response = await fetch(new URL('./login', location.href), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch {
    setError('Cannot reach the server.');
    setBusy(false);
    return;
  }
  if (response.ok) {
    location.replace(target);
    return;
  }
  if (response.status === 429) {
    rateLimited(Number.parseInt(response.headers.get('Retry-After') ?? '', 10));
    return;
  }
  const reason = await errorReason(response);
  setError(
    response.status === 401
      ? `Login failed: ${'user' in body ? 'wrong user name or password' : 'the token is not valid (or has expired)'}.`
      : `Login failed: ${reason}`,
  );
  setBusy(false);
}

async function errorReason(response: Response): Promise<string> {
  try {
    const json = (await response.json()) as { error?: unknown };
    if (typeof json.error === 'string') return json.error;
  } catch {
    // Not JSON.
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** 429: the forms stay off for Retry-After seconds, counting down. */
function rateLimited(seconds: number): void {
  let left = Number.isFinite(seconds) && seconds > 0 ? seconds : 1;
  const tick = () => {
    if (left <= 0) {
      clearInterval(retryTimer);
      setError('');
      setBusy(false);
      return;
    }
    setError(`Too many attempts, retry in ${left} s.`);
    left -= 1;
  };
  clearInterval(retryTimer);
  tick();
  retryTimer = window.setInterval(tick, 1000);
}

function setup(info: AuthInfo, target: string): void {
  const state = $('login-state');
  if (!info.enabled) {
    state.textContent = 'This server does not ask for a login.';
    state.append(' ', continueLink(target));
    return;
  }
  if (info.user) {
    state.textContent = `Logged in as ${info.user.sub}${info.user.mode === 'ro' ? ' (read-only)' : ''}.`;
    state.append(' ', continueLink(target), ' or log in as someone else below.');
  } else {
    state.textContent = info.passwords ? 'Log in with your user name and password, or a token.' : 'Log in with a token.';
  }
  if (info.passwords) {
    $('password-form').hidden = false;
    $('token-heading').textContent = 'Or use a token';
    $('password-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const user = $<HTMLInputElement>('login-user').value;
      const password = $<HTMLInputElement>('login-password').value;
      void login({ user, password }, target).then(() => ($<HTMLInputElement>('login-password').value = ''));
    });
  }
  $('token-form').hidden = false;
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const { token, page } = readToken($<HTMLInputElement>('login-token').value);
    if (!token) return;
    // A pasted link names its own page; `?next=` wins when there is one.
    const next = new URLSearchParams(location.search).get('next');
    void login({ token }, next || !page ? target : nextTarget(page));
  });
  setBusy(false);
  (info.passwords ? $('login-user') : $('login-token')).focus();
}

function continueLink(target: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.href = target;
  a.id = 'login-continue';
  a.textContent = 'Continue';
  return a;
}

async function main(): Promise<void> {
  const target = nextTarget(new URLSearchParams(location.search).get('next'));
  let info: AuthInfo;
  try {
    info = await authInfo();
  } catch (e) {
    $('login-state').textContent = '';
    setError(`Cannot reach the server: ${(e as Error).message}`);
    return;
  }
  setup(info, target);
}

void main();
