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
import { onSessionLabel, showSessionName } from './sessionlabel';
import { resolveOptions, type UiOptions } from './options';
import { createTerminal, installClipboard, loadExtras } from './view';
import type { TransferHost, Transfers } from './transfer/transfers';
import { ESCAPE_SHORTCUT, installFocusEscape } from './escape';
import { leavingOnPurpose, watchOwnNavigation } from './leave';
import { Title } from './title';
import { clipboardNotice } from './toast';
import { installTouchScroll } from './touch';

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
  /** File transfer (trzsz, ZMODEM), when an option turns it on. */
  transfer: Transfers | null = null;

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
      output: (bytes, end) =>
        this.transfer ? this.transfer.output(bytes, end) : this.answers.write(bytes, end, () => this.conn.rendered(end)),
      gap: (from, to) => term.write(`\r\n\x1b[0;7m[ringtty: ${to - from} bytes of output were skipped]\x1b[0m\r\n`),
      resize: (cols, rows) => this.sessionResized(cols, rows),
      role: (driver, offset) => {
        this.answers.role(driver, offset);
        this.transfer?.role(driver, offset);
        if (this.writable) this.setRole(driver ? 'driver' : 'viewer');
      },
      state: (s) => this.state(s),
    });
    showSessionName($('status-session'), id);

    term.onData((data) => {
      // xterm.js's answers to queries skip the key bar's sticky modifiers.
      const kind = this.answers.kind();
      if (kind !== 'dropped') this.input(kind === 'typed' ? this.keybar.apply(data) : data);
    });
    term.onBinary((data) => this.inputBytes(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    term.onResize(({ cols, rows }) => this.showSize(cols, rows));
    installClipboard(term, () => this.writable && this.live, (text) => clipboardNotice(text, () => term.focus()));
    this.watchSize();
    window.addEventListener('beforeunload', (e) => {
      // Reloading keeps the session (it waits --detach-timeout for a client), but
      // closing the tab by accident (Ctrl+W is "delete word" in a shell) is still worth a question.
      if (!ui.disableLeaveAlert && this.writable && this.live && !leavingOnPurpose()) e.preventDefault();
    });
    this.showSize(term.cols, term.rows);
  }

  start(): void {
    this.conn.start();
  }

  /** What file transfer (./transfer) needs from the page. */
  transferHost(): TransferHost {
    return {
      term: this.term,
      write: (data, end, done) => this.answers.write(data, end, done ?? (() => {})),
      consumed: (end) => this.conn.rendered(end),
      send: (bytes) => {
        if (!this.writable || !this.live) return false;
        this.inputBytes(bytes);
        return true;
      },
      buffered: () => this.conn.buffered(),
    };
  }

  private hello(h: Hello, resumed: boolean): void {
    this.writable = h.writable;
    this.live = true;
    // A fresh replay (reload, or a server that lost our place) redraws from scratch.
    if (!resumed) this.term.reset();
    // Every connection starts as a viewer; the server says when it drives.
    this.answers.attached(h.offset);
    this.transfer?.attached();
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
    // During a file transfer, keys are the transfer's (Ctrl+C cancels it).
    if (this.transfer?.input(data)) return;
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
    // As ttyd's "Press ⏎ to Reconnect": the buttons take the focus (Tab moves between
    // them) and Enter anywhere but on another control starts a new session.
    this.notice(`${message} Press Enter for a new session.`, [
      ['New session', newSession],
      ['All sessions', () => location.assign('./sessions')],
    ]);
    ($('notice-actions').firstElementChild as HTMLElement | null)?.focus();
    // Capture: xterm.js stops the keys its textarea gets, even with input disabled.
    document.addEventListener(
      'keydown',
      (e) => {
        const controls = 'button, a[href], input, select, textarea:not(.xterm-helper-textarea)';
        const onControl = e.target instanceof Element && e.target.closest(controls);
        if (e.key !== 'Enter' || e.isComposing || onControl) return;
        e.preventDefault();
        newSession();
      },
      true,
    );
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
  const title = new Title(config.host, options.ui.titleFixed);
  term.onTitleChange((osc) => title.set({ osc }));
  // A rename while attached (or while away: published after each hello) shows at once.
  onSessionLabel((label) => title.set({ name: label.name }));
  installTouchScroll($('terminal'), term);
  installFocusEscape($('terminal'), $('notice'), $('status'), () => term.focus());
  term.textarea?.setAttribute('aria-keyshortcuts', 'Control+Shift+Period');
  term.textarea?.setAttribute('aria-description', `${ESCAPE_SHORTCUT} leaves the terminal for the page's controls`);
  watchOwnNavigation();
  const extras = loadExtras($('terminal'), term, options);
  // File transfer's code and libraries, fetched only when an option turns it on; never
  // for a page that cannot type (a read-only server or login).
  const transfers =
    (options.ui.enableTrzsz || options.ui.enableZmodem) && config.writable && !readOnlyLogin
      ? import('./transfer/transfers')
      : null;
  const params = new URLSearchParams(location.search);
  // A share link's login reaches one session: that is the one to show.
  let id = params.get('s') ?? auth.user?.session ?? null;
  if (id && !params.has('s')) {
    params.set('s', id);
    history.replaceState(history.state, '', `?${params}${location.hash}`);
  }
  if (!id) {
    try {
      // Not kept (it ends --detach-timeout after its last tab), whatever the server's
      // --keep-sessions, unless the URL asks for it (`keep=true`).
      const created = await api.create({ cols: term.cols, rows: term.rows, keep: params.get('keep') === 'true' });
      id = created.id;
      title.set({ name: created.name, command: created.command });
    } catch (e) {
      fatal(`Cannot start a session: ${(e as Error).message}`);
      return;
    }
    // The id in the URL: a reload reattaches, and the address can be shared.
    params.set('s', id);
    history.replaceState(history.state, '', `?${params}${location.hash}`);
  } else {
    // The command of a session this page did not create, for the title (its name comes
    // with every hello: onSessionLabel above).
    void api.session(id).then(
      (s) => title.set({ command: s.command }),
      () => title.set({ command: config.command }),
    );
  }
  await extras;
  const page = new TerminalPage(term, fit, id, options.ui, readOnlyLogin);
  if (transfers) page.transfer = await startTransfers(transfers, page.transferHost(), options.ui);
  page.start();
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

/** Loads file transfer; the terminal works without it if that fails. */
async function startTransfers(
  module: Promise<typeof import('./transfer/transfers')>,
  host: TransferHost,
  ui: UiOptions,
): Promise<Transfers | null> {
  try {
    const { createTransfers } = await module;
    return await createTransfers(host, {
      trzsz: ui.enableTrzsz,
      zmodem: ui.enableZmodem,
      dragInitTimeout: ui.trzszDragInitTimeout,
    });
  } catch (e) {
    showError(`File transfer is unavailable: ${(e as Error).message}`);
    return null;
  }
}

void main();
