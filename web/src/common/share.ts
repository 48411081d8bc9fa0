// "Share read-only link": asks the server for a read-only token for one session
// (`POST ./api/tokens`) and shows the link in a small dialog with a Copy button.
import { api, ApiError } from './api';

let dialog: HTMLDialogElement | null = null;

/** The dialog, built once per page: a heading, the link, Copy, the expiry, Close. */
function build(): HTMLDialogElement {
  const d = document.createElement('dialog');
  d.id = 'share-dialog';
  d.className = 'share-dialog';
  d.setAttribute('aria-labelledby', 'share-title');
  const title = document.createElement('h2');
  title.id = 'share-title';
  title.textContent = 'Read-only link';
  const hint = document.createElement('p');
  hint.className = 'dim';
  hint.textContent = 'Whoever opens it can watch this session, not type into it.';
  const label = document.createElement('label');
  label.htmlFor = 'share-url';
  label.textContent = 'Link';
  const url = document.createElement('input');
  url.id = 'share-url';
  url.type = 'text';
  url.readOnly = true;
  url.spellcheck = false;
  url.addEventListener('focus', () => url.select());
  const row = document.createElement('div');
  row.className = 'share-row';
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.id = 'share-copy';
  copy.textContent = 'Copy';
  copy.addEventListener('click', () => void copyLink(url, status));
  row.append(url, copy);
  const expiry = document.createElement('p');
  expiry.id = 'share-expiry';
  expiry.className = 'dim';
  const status = document.createElement('p');
  status.id = 'share-status';
  status.setAttribute('role', 'status');
  status.setAttribute('aria-live', 'polite');
  const close = document.createElement('button');
  close.type = 'button';
  close.id = 'share-close';
  close.textContent = 'Close';
  close.addEventListener('click', () => d.close());
  const actions = document.createElement('div');
  actions.className = 'share-actions';
  actions.append(close);
  d.append(title, hint, label, row, expiry, status, actions);
  document.body.append(d);
  return d;
}

/** The clipboard API where the page may use it (a secure context: https or loopback),
 * else the text is left selected for the user's own Ctrl+C. */
async function copyLink(input: HTMLInputElement, status: HTMLElement): Promise<void> {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = 'Copied.';
      return;
    } catch {
      // Denied: fall back to the selection.
    }
  }
  input.focus();
  input.select();
  status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
}

/** Mints a read-only link for `session` and opens the dialog with it. Errors are
 * passed to `fail` (a 401 has already sent the page to the login page). */
export async function shareSession(session: string, fail: (message: string) => void): Promise<void> {
  let token;
  try {
    token = await api.share(session);
  } catch (e) {
    const why = e instanceof ApiError && e.status === 404 ? 'only its owner can share this session' : (e as Error).message;
    fail(`Cannot make a link: ${why}`);
    return;
  }
  dialog ??= build();
  const url = dialog.querySelector<HTMLInputElement>('#share-url')!;
  url.value = location.origin + token.path;
  const expires = new Date(token.exp * 1000);
  dialog.querySelector('#share-expiry')!.textContent = `Expires ${expires.toLocaleString()}.`;
  (dialog.querySelector('#share-expiry') as HTMLElement).title = expires.toISOString();
  dialog.querySelector('#share-status')!.textContent = '';
  dialog.showModal();
  url.focus();
}
