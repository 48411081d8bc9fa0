// The terminal page (`/`): creates a session when the URL names none, attaches to it,
// and keeps the status line, title, size and key bar in step with it.
import '@xterm/xterm/css/xterm.css';
import '../style.css';
import type { Terminal } from '@xterm/xterm';
import type { FitAddon } from '@xterm/addon-fit';
import { api, loadConfig } from '../common/api';
import { authInfo, canShare, showUser, type AuthInfo } from '../common/auth';
import { signalName } from '../common/format';
import { shareSession } from '../common/share';
import { Answers } from './answers';
import { Connection, type ExitStatus, type Hello, type State } from './connection';
import { KeyBar } from './keybar';
import { resolveOptions, type UiOptions } from './options';
import { createTerminal, installClipboard, loadExtras } from './view';

const $ = (id: string) => document.getElementById(id) as HTMLElement;

/** Whether this page drives the session (its size, and answering queries: the server
 * says so), watches another client's, or may not type. */
type Role = 'driver' | 'viewer' | 'read-only';

class TerminalPage {
  private readonly encoder = new TextEncoder();
  private readonly keybar: KeyBar;
  private readonly conn: Connection;
  private readonly answers: Answers;
  private writable = false;
  private live = false;
  private role: Role | null = null;
  private countdown: number | undefined;
  private sizeOverlayTimer: number | undefined;
  private attached = false;

  constructor(
    private readonly term: Terminal,
    private readonly fit: FitAddon,
    id: string,
    private readonly ui: UiOptions,
    /** The login can watch, not type (a read-only share link). */
    private readonly readOnlyLogin: boolean,
  ) {
    this.keybar = new KeyBar($('keybar'), term, (data) => this.input(data));
    // After the addons (main loads them first), so that its hooks run before theirs.
    this.answers = new Answers(term);
    this.conn = new Connection(id, {
      hello: (h, resumed) => this.hello(h, resumed),
      output: (bytes, end) => this.answers.write(bytes, end, () => this.conn.rendered(end)),
      gap: (from, to) => term.write(`\r\n\x1b[0;7m[ringtty: ${to - from} bytes of output were skipped]\x1b[0m\r\n`),
      resize: (cols, rows) => this.sessionResized(cols, rows),
      role: (driver, offset) => {
        this.answers.role(driver, offset);
        if (this.writable) this.setRole(driver ? 'driver' : 'viewer');
      },
      state: (s) => this.state(s),
    });
    const session = $('status-session');
    session.textContent = id.length > 10 ? `${id.slice(0, 8)}…` : id;
    session.title = `session ${id}`;

    term.onData((data) => {
      // xterm.js's answers to queries skip the key bar's sticky modifiers.
      const kind = this.answers.kind();
      if (kind !== 'dropped') this.input(kind === 'typed' ? this.keybar.apply(data) : data);
    });
    term.onBinary((data) => this.inputBytes(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    term.onResize(({ cols, rows }) => this.showSize(cols, rows));
    term.onTitleChange((title) => {
      if (!ui.titleFixed) document.title = title || 'ringtty';
    });
    if (ui.titleFixed) document.title = ui.titleFixed;
    installClipboard(term, () => this.writable && this.live, (text) => this.notice(text, []));
    this.watchSize();
    window.addEventListener('beforeunload', (e) => {
      // Reloading keeps the session (it waits --detach-timeout for a client), but
      // closing the tab by accident (Ctrl+W is "delete word" in a shell) is still worth a question.
      if (!ui.disableLeaveAlert && this.writable && this.live) e.preventDefault();
    });
    this.showSize(term.cols, term.rows);
  }

  start(): void {
    this.conn.start();
  }

  private hello(h: Hello, resumed: boolean): void {
    this.writable = h.writable;
    this.live = true;
    // A fresh replay (reload, or a server that lost our place) redraws from scratch.
    if (!resumed) this.term.reset();
    // Every connection starts as a viewer; the server says when it drives.
    this.answers.attached(h.offset);
    this.term.options.disableStdin = !h.writable;
    $('readonly-banner').hidden = h.writable;
    this.keybar.setEnabled(h.writable);
    if (h.writable) {
      this.setRole('viewer');
      this.refit(true);
    } else {
      this.term.resize(h.cols, h.rows);
      this.setRole('read-only');
    }
    this.attached = true;
    this.hideNotice();
    this.term.focus();
  }

  private input(data: string): void {
    if (data) this.inputBytes(this.encoder.encode(data));
  }

  private inputBytes(bytes: Uint8Array): void {
    if (!this.writable || !this.live) return;
    // Typing makes this client the driver: the server applies the size it last asked
    // for, so show the terminal at that size again.
    if (this.role === 'viewer') this.refit(false);
    this.conn.sendInput(bytes);
  }

  /** Another writable client set the session's size: show the session as it is. */
  private sessionResized(cols: number, rows: number): void {
    if (cols === this.term.cols && rows === this.term.rows) return;
    this.term.resize(cols, rows);
  }

  /** Fits the terminal to the window and, if writable, asks the server for that size
   * (`force`: even when it did not change, to become the driver; the server confirms
   * with a `role` message). */
  private refit(force: boolean): void {
    const dims = this.fit.proposeDimensions();
    if (!dims || !Number.isFinite(dims.cols) || !Number.isFinite(dims.rows)) return;
    const cols = Math.max(2, dims.cols);
    const rows = Math.max(1, dims.rows);
    if (!this.writable) return;
    const changed = cols !== this.term.cols || rows !== this.term.rows;
    if (changed) this.term.resize(cols, rows);
    if (changed || force || this.role !== 'driver') this.conn.sendResize(cols, rows);
  }

  private watchSize(): void {
    let timer: number | undefined;
    const schedule = () => {
      clearTimeout(timer);
      timer = window.setTimeout(() => {
        // Before the first hello a resize only shapes the terminal for the POST.
        if (this.attached) this.refit(false);
        else this.fit.fit();
      }, 60);
    };
    new ResizeObserver(schedule).observe($('terminal'));
    // Metrics change once a web font has loaded.
    void document.fonts?.ready.then(schedule);
  }

  private showSize(cols: number, rows: number): void {
    $('status-size').textContent = `${cols}×${rows}`;
    if (this.ui.disableResizeOverlay || !this.attached) return;
    const overlay = $('size-overlay');
    overlay.textContent = `${cols}×${rows}`;
    overlay.hidden = false;
    clearTimeout(this.sizeOverlayTimer);
    this.sizeOverlayTimer = window.setTimeout(() => (overlay.hidden = true), 1000);
  }

  private setRole(role: Role): void {
    this.role = role;
    const el = $('status-role');
    el.textContent = role;
    el.title = {
      driver: 'This window sets the terminal size',
      viewer: 'Another window sets the terminal size; type or resize to take over',
      'read-only': this.readOnlyLogin
        ? 'This login can watch, not type'
        : 'This server does not accept input (start it with -W)',
    }[role];
  }

  private state(s: State): void {
    clearInterval(this.countdown);
    const el = $('status-state');
    el.dataset.state = s.kind;
    switch (s.kind) {
      case 'connecting':
        el.textContent = 'connecting';
        break;
      case 'connected':
        el.textContent = 'connected';
        break;
      case 'reconnecting': {
        this.live = false;
        const tick = () => {
          const secs = Math.max(0, Math.ceil((s.at - Date.now()) / 1000));
          el.textContent = secs > 0 ? `reconnecting in ${secs}s` : 'reconnecting';
        };
        tick();
        this.countdown = window.setInterval(tick, 1000);
        this.notice(`Disconnected: ${s.reason}. Reconnecting…`, [['Retry now', () => this.conn.retryNow()]]);
        break;
      }
      case 'exited':
        this.end(`exited (${exitText(s.status)})`, `The command ${exitSentence(s.status)}.`);
        break;
      case 'gone':
        this.end('ended', s.reason);
        break;
    }
  }

  private end(status: string, message: string): void {
    this.live = false;
    $('status-state').textContent = status;
    this.term.options.disableStdin = true;
    this.keybar.setEnabled(false);
    this.notice(message, [
      ['New session', newSession],
      ['All sessions', () => location.assign('./sessions')],
    ]);
  }

  private notice(text: string, actions: [string, () => void][]): void {
    $('notice-text').textContent = text;
    const box = $('notice-actions');
    box.replaceChildren(
      ...actions.map(([label, act]) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.addEventListener('click', act);
        return b;
      }),
    );
    $('notice').hidden = false;
  }

  private hideNotice(): void {
    $('notice').hidden = true;
  }
}

function exitText(status: ExitStatus): string {
  return 'signal' in status ? signalName(status.signal) : `status ${status.code}`;
}

function exitSentence(status: ExitStatus): string {
  return 'signal' in status
    ? `was killed by signal ${status.signal} (${signalName(status.signal)})`
    : `exited with status ${status.code}`;
}

/** This page without `?s=`: a fresh session, other options kept. */
function newSession(): void {
  const params = new URLSearchParams(location.search);
  params.delete('s');
  const query = params.toString();
  location.assign(query ? `./?${query}` : './');
}

/** An error that leaves the terminal running: the notice, with a Dismiss button. */
function showError(text: string): void {
  $('notice-text').textContent = text;
  const dismiss = document.createElement('button');
  dismiss.type = 'button';
  dismiss.textContent = 'Dismiss';
  dismiss.addEventListener('click', () => ($('notice').hidden = true));
  $('notice-actions').replaceChildren(dismiss);
  $('notice').hidden = false;
}

function fatal(text: string): void {
  $('status-state').textContent = 'error';
  $('status-state').dataset.state = 'gone';
  $('notice-text').textContent = text;
  const retry = document.createElement('button');
  retry.type = 'button';
  retry.textContent = 'Try again';
  retry.addEventListener('click', () => location.reload());
  $('notice-actions').replaceChildren(retry);
  $('notice').hidden = false;
}

async function main(): Promise<void> {
  let config;
  let auth: AuthInfo;
  try {
    [config, auth] = await Promise.all([loadConfig(), authInfo()]);
  } catch (e) {
    fatal(`Cannot reach the server: ${(e as Error).message}`);
    return;
  }
  showUser($('user'), auth);
  const readOnlyLogin = auth.enabled && auth.user?.mode === 'ro';
  const options = resolveOptions(config.client_options, location.search);
  for (const w of options.warnings) console.warn(`ringtty: ${w}`);
  // Shown before the first fit so that the terminal is sized for the space left.
  $('readonly-banner').hidden = config.writable && !readOnlyLogin;
  $('readonly-server').hidden = readOnlyLogin;
  $('readonly-link').hidden = !readOnlyLogin;
  const { term, fit } = createTerminal($('terminal'), options);
  const extras = loadExtras($('terminal'), term, options);
  const params = new URLSearchParams(location.search);
  // A share link's login reaches one session: that is the one to show.
  let id = params.get('s') ?? auth.user?.session ?? null;
  if (id && !params.has('s')) {
    params.set('s', id);
    history.replaceState(history.state, '', `?${params}${location.hash}`);
  }
  if (!id) {
    try {
      id = (await api.create({ cols: term.cols, rows: term.rows })).id;
    } catch (e) {
      fatal(`Cannot start a session: ${(e as Error).message}`);
      return;
    }
    // The id in the URL: a reload reattaches, and the address can be shared.
    params.set('s', id);
    history.replaceState(history.state, '', `?${params}${location.hash}`);
  }
  await extras;
  new TerminalPage(term, fit, id, options.ui, readOnlyLogin).start();
  if (canShare(auth)) {
    const share = $('share') as HTMLButtonElement;
    const session = id;
    share.hidden = false;
    share.addEventListener('click', () => {
      share.disabled = true;
      void shareSession(session, (message) => showError(message)).finally(() => (share.disabled = false));
    });
  }
}

void main();
