// Who is using the page, as the server sees it (`GET ./api/auth`, open without a
// credential), and the ways to the login page and back out. The credential itself is
// an HttpOnly cookie: no script here ever sees a token, except the one a share dialog
// is handed to show.

/** The principal of this request, as `GET /api/auth` names it. */
export interface User {
  sub: string;
  mode: 'ro' | 'rw';
  admin: boolean;
  /** A share token reaches this one session only. */
  session: string | null;
}

export interface AuthInfo {
  /** False with `--no-auth`: the pages show no user, no log out, no share. */
  enabled: boolean;
  /** The server checks user names and passwords (`-c`, `--credential-file`). */
  passwords: boolean;
  user: User | null;
}

/** What the pages assume when the server has no `/api/auth` (an older server). */
const NO_AUTH: AuthInfo = { enabled: false, passwords: false, user: null };

export async function authInfo(): Promise<AuthInfo> {
  const response = await fetch(new URL('./api/auth', location.href), {
    headers: { Accept: 'application/json' },
    cache: 'no-store',
  });
  if (response.status === 404) return NO_AUTH;
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`.trim());
  return { ...NO_AUTH, ...((await response.json()) as Partial<AuthInfo>) };
}

/** Whether the user may mint share links: a read-write login that is not itself a
 * one-session (share) token. The server checks that the session is its own. */
export function canShare(info: AuthInfo): boolean {
  const user = info.user;
  return info.enabled && user !== null && user.mode === 'rw' && user.session === null;
}

let leaving = false;

/**
 * Sends the page to the login page, which comes back here (path and query) once
 * logged in. Resolves never: the page is going away, and nothing should show an error
 * about the request that found out.
 */
export function toLogin(): Promise<never> {
  if (!leaving) {
    leaving = true;
    const next = location.pathname + location.search;
    location.assign(new URL(`./login?next=${encodeURIComponent(next)}`, location.href));
  }
  return new Promise<never>(() => {});
}

/** `POST ./logout` (the server clears the cookie), then the login page. */
export async function logout(): Promise<void> {
  try {
    await fetch(new URL('./logout', location.href), { method: 'POST', cache: 'no-store' });
  } finally {
    leaving = true;
    location.assign(new URL('./login', location.href));
  }
}

/**
 * Fills `box` with the user's name, a "read-only" or "admin" badge, and a Log out
 * button; leaves it hidden when authentication is off or nobody is logged in.
 */
export function showUser(box: HTMLElement, info: AuthInfo): void {
  const user = info.user;
  if (!info.enabled || !user) {
    box.hidden = true;
    return;
  }
  const name = document.createElement('span');
  name.className = 'user-name';
  // A share link's token names the user who shared it, not whoever opened it.
  name.textContent = user.session === null ? user.sub : `link from ${user.sub}`;
  name.title = user.session === null ? `logged in as ${user.sub}` : `a link ${user.sub} shared, for this session only`;
  const parts: HTMLElement[] = [name];
  const badge = (text: string, title: string) => {
    const b = document.createElement('span');
    b.className = `badge badge-${text.replace(/\W/g, '')}`;
    b.textContent = text;
    b.title = title;
    parts.push(b);
  };
  if (user.mode === 'ro') badge('read-only', 'This login can watch, not type');
  if (user.admin) badge('admin', "This login sees every user's sessions");
  const out = document.createElement('button');
  out.type = 'button';
  out.className = 'logout';
  out.textContent = 'Log out';
  out.addEventListener('click', () => {
    out.disabled = true;
    void logout();
  });
  parts.push(out);
  box.replaceChildren(...parts);
  box.hidden = false;
}
