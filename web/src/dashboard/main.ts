// The session dashboard (`/sessions`): a live, paginated list of every session, newest
// first, with open, rename, keep, share and kill, each one's latest output line, and a
// form that starts the server's COMMAND, a named command or (when the server allows it)
// any command line. On a node of a fleet (`--nats`) the list is the whole fleet's, with
// each session's node, and a panel shows the nodes. Below 760 px the rows are cards.
import '../style.css';
import './style.css';
import { api, loadConfig, type Fleet, type ServerConfig, type SessionInfo, type SessionList } from '../common/api';
import { authInfo, canShare, showUser, type AuthInfo } from '../common/auth';
import { age, commandLine, signalName } from '../common/format';
import { shareSession } from '../common/share';
import { playLink, setPlayable } from '../play/link';
import { renderFleet, setText } from './fleet';
import {
  createActivityCell,
  createKeepCell,
  createNameCell,
  updateActivityCell,
  updateKeepCell,
  updateNameCell,
} from './labels';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const PAGE_SIZE = 20;
const POLL_MS = 2000;
/** A kill button asks once more for this long. */
const CONFIRM_MS = 3000;

let offset = 0;
let pollTimer: number | undefined;
/** The newest refresh started. */
let latest = 0;
/** Ids whose kill button is waiting for its confirming click. */
const confirming = new Set<string>();
/** Who is looking; until `/api/auth` answers, nobody (no Share buttons). */
let auth: AuthInfo = { enabled: false, passwords: false, user: null };
/** This server is a node of a fleet (`nats` not `off`): the list is the fleet's. */
let fleetOn = false;
/** This node's name, in a fleet. */
let selfNode: string | null = null;

async function refresh(): Promise<void> {
  clearTimeout(pollTimer);
  const seq = ++latest;
  try {
    // The fleet's view is asked alongside the list; the list's scope follows the last
    // one (a server without a fleet answers `off`, and nothing changes).
    const [fleet, list] = await Promise.all([
      api.fleet().catch((): Fleet | null => null),
      api.list(offset, PAGE_SIZE, fleetOn),
    ]);
    // A later refresh (a page change) has overtaken this one: its answer wins.
    if (seq !== latest) return;
    if (fleet) {
      selfNode = fleet.nodes.find((n) => n.self)?.node ?? null;
      renderFleet(fleet);
      // The server joined or left a fleet (the first answer, mostly): ask again.
      if ((fleet.nats !== 'off') !== fleetOn) {
        fleetOn = !fleetOn;
        return refresh();
      }
    }
    // Sessions ended and were removed while we looked at a later page: step back.
    if (list.sessions.length === 0 && offset > 0 && list.total > 0) {
      offset = Math.max(0, Math.floor((list.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      return refresh();
    }
    render(list.sessions, list.total);
    showPartial(list);
    $('list-error').textContent = '';
  } catch (e) {
    $('list-error').textContent = `Cannot load the sessions: ${(e as Error).message}`;
  } finally {
    // One timer at a time (a refresh may run from a click while one is pending);
    // polling pauses while the tab is hidden (visibilitychange resumes it).
    clearTimeout(pollTimer);
    if (!document.hidden) pollTimer = window.setTimeout(() => void refresh(), POLL_MS);
  }
}

/** Rows by session id, updated in place on every poll: a row rebuilt under the mouse
 * would swallow a click on its button. */
const rows = new Map<string, HTMLTableRowElement>();

function render(sessions: SessionInfo[], total: number): void {
  const nowMs = Date.now();
  const wanted = sessions.map((s) => {
    let tr = rows.get(s.id);
    if (!tr) rows.set(s.id, (tr = createRow(s.id)));
    updateRow(tr, s, nowMs);
    return tr;
  });
  const shown = new Set(sessions.map((s) => s.id));
  for (const id of rows.keys()) if (!shown.has(id)) rows.delete(id);
  if (wanted.length === 0) {
    const tr = document.createElement('tr');
    tr.className = 'empty';
    const td = document.createElement('td');
    td.colSpan = CELLS;
    td.textContent = 'No sessions. Start one above.';
    tr.append(td);
    wanted.push(tr);
  }
  const table = $('sessions');
  table.classList.toggle('fleet-list', fleetOn);
  const tbody = table.querySelector('tbody')!;
  const current = [...tbody.children];
  if (current.length !== wanted.length || current.some((tr, i) => tr !== wanted[i])) tbody.replaceChildren(...wanted);
  const last = Math.min(offset + sessions.length, total);
  $('page-info').textContent = total ? `${offset + 1}–${last} of ${total}` : '';
  $<HTMLButtonElement>('prev').disabled = offset === 0;
  $<HTMLButtonElement>('next').disabled = offset + PAGE_SIZE >= total;
}

/** A fleet-wide list some node did not answer: say which. */
function showPartial(list: SessionList): void {
  const line = $('list-partial');
  const missing = list.nodes?.missing ?? [];
  line.hidden = !(fleetOn && list.partial);
  setText(
    line,
    line.hidden
      ? ''
      : missing.length
        ? `Incomplete list: no answer from node${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`
        : 'Incomplete list: only this node answered.',
  );
}

/** Cells: name (a link to the terminal, and rename), command, status, exit, clients,
 * size, age, node (shown in a fleet), activity (last output and its latest line), keep,
 * actions (share, kill). Each cell's `data-label` names it in the card layout. */
const LABELS = ['Name', 'Command', 'Status', 'Exit', 'Clients', 'Size', 'Age', 'Node', 'Activity', 'Keep', ''];
const CELLS = LABELS.length;

function createRow(id: string): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.id = id;
  const cells = LABELS.map((label) => {
    const td = document.createElement('td');
    if (label) td.dataset.label = label;
    return td;
  });
  cells[7].className = 'node';
  const showError = (message: string) => ($('list-error').textContent = message);
  createNameCell(cells[0], id, showError);
  createActivityCell(cells[8]);
  createKeepCell(cells[9], id, showError);
  const share = document.createElement('button');
  share.type = 'button';
  share.className = 'share';
  share.textContent = 'Share';
  share.title = 'Make a read-only link to this session';
  share.setAttribute('aria-label', `Share read-only link to ${id}`);
  share.hidden = true;
  share.addEventListener('click', () => {
    share.disabled = true;
    void shareSession(id, (message) => ($('list-error').textContent = message)).finally(
      () => (share.disabled = false),
    );
  });
  const kill = document.createElement('button');
  kill.type = 'button';
  kill.className = 'kill';
  kill.addEventListener('click', () => void killClicked(id, tr, kill));
  cells[10].className = 'actions';
  cells[10].append(share, kill, playLink(id));
  tr.append(...cells);
  return tr;
}

function updateRow(tr: HTMLTableRowElement, s: SessionInfo, nowMs: number): void {
  const cells = tr.cells;
  const running = s.status === 'running';
  const now = nowMs / 1000;
  tr.dataset.status = s.status;
  // Renaming and keeping are the owner's (or an admin's): not a read-only login's, nor
  // a share link's.
  const mayChange = !startsNothing();
  updateNameCell(cells[0], s, mayChange);
  setText(cells[1], commandLine(s.command));
  setText(cells[2], s.status);
  cells[2].className = `status-${s.status}`;
  const exit = running ? '' : s.exit_signal !== null ? signalName(s.exit_signal) : String(s.exit_code ?? '');
  setText(cells[3], exit);
  setText(cells[4], String(s.clients));
  setText(cells[5], `${s.cols}×${s.rows}`);
  setText(cells[6], age(now - s.created));
  setText(cells[7], s.node ?? '');
  updateActivityCell(cells[8], s, nowMs);
  updateKeepCell(cells[9], s, mayChange);
  const [share, kill] = cells[10].querySelectorAll('button') as unknown as [HTMLButtonElement, HTMLButtonElement];
  // Only a session of one's own can be shared (an admin sees others' too), and only
  // on its own node (which mints the link).
  const here = s.node == null || selfNode == null || s.node === selfNode;
  share.hidden = !(canShare(auth) && running && here && (s.owner == null || s.owner === auth.user?.sub));
  // A read-only login watches; it kills nothing.
  kill.hidden = isReadOnly();
  setPlayable(cells[10], s.recording != null);
  const verb = running ? 'Kill' : 'Remove';
  setText(kill, confirming.has(s.id) ? `${verb}?` : verb);
  kill.title = running ? 'Send the stop signal to the command' : 'Remove it from the list';
}

/** The first click arms the button, a second within a few seconds kills: one slip of
 * the mouse must not end someone's shell. */
async function killClicked(id: string, tr: HTMLTableRowElement, button: HTMLButtonElement): Promise<void> {
  const verb = tr.dataset.status === 'running' ? 'Kill' : 'Remove';
  if (!confirming.has(id)) {
    confirming.add(id);
    button.textContent = `${verb}?`;
    setTimeout(() => {
      confirming.delete(id);
      if (button.textContent === `${verb}?`) button.textContent = verb;
    }, CONFIRM_MS);
    return;
  }
  confirming.delete(id);
  button.disabled = true;
  try {
    await api.kill(id);
  } catch (e) {
    $('list-error').textContent = `Cannot kill ${id}: ${(e as Error).message}`;
  }
  button.disabled = false;
  await refresh();
}

/** The create form's choices: the server's COMMAND, each named command, and a free
 * command line when the server runs any command. */
function setupCreate(config: ServerConfig): void {
  const select = $<HTMLSelectElement>('create-command');
  const cmdline = $<HTMLInputElement>('create-cmdline');
  const add = (value: string, label: string) => select.append(new Option(label, value));
  add('', config.command.length ? `default: ${commandLine(config.command)}` : 'default command');
  for (const name of config.named_commands) add(`named:${name}`, name);
  if (config.allow_any_command) add('custom', 'custom command line…');
  select.addEventListener('change', () => {
    cmdline.hidden = select.value !== 'custom';
    if (!cmdline.hidden) cmdline.focus();
  });
  // Checked as the server's default for API creates (--keep-sessions).
  $<HTMLInputElement>('create-keep').checked = config.keep_sessions === true;
  $<HTMLFormElement>('create').addEventListener('submit', (e) => {
    e.preventDefault();
    const keep = $<HTMLInputElement>('create-keep').checked;
    void create(select.value, cmdline.value.trim(), $<HTMLInputElement>('create-name').value.trim(), keep);
  });
  // Disabled in the HTML until now: a click before the choices exist would submit the
  // bare form to the server.
  $<HTMLButtonElement>('create-submit').disabled = false;
}

async function create(choice: string, line: string, name: string, keep: boolean): Promise<void> {
  const body: { command?: string[]; name?: string; keep: boolean } = { keep };
  if (choice.startsWith('named:')) body.command = [choice.slice('named:'.length)];
  if (choice === 'custom') {
    if (!line) {
      $('create-error').textContent = 'Type a command line.';
      return;
    }
    // A command line as a person types it: let the shell split and expand it.
    body.command = ['/bin/sh', '-c', line];
  }
  if (name) body.name = name;
  try {
    const session = await api.create(body);
    // Open it: a session nobody attaches to ends after the server's detach timeout.
    location.assign(`./?s=${encodeURIComponent(session.id)}`);
  } catch (e) {
    $('create-error').textContent = (e as Error).message;
  }
}

function isReadOnly(): boolean {
  return auth.enabled && auth.user?.mode === 'ro';
}

/** A share link's login (one session) or a read-only one starts no sessions. */
function startsNothing(): boolean {
  return isReadOnly() || (auth.enabled && auth.user?.session != null);
}

async function main(): Promise<void> {
  $('prev').addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    void refresh();
  });
  $('next').addEventListener('click', () => {
    offset += PAGE_SIZE;
    void refresh();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh();
  });
  try {
    auth = await authInfo();
  } catch {
    // Shown as the list's error by the refresh below, which meets the same server.
  }
  showUser($('user'), auth);
  $('create').hidden = startsNothing();
  $('new-terminal').hidden = startsNothing();
  void refresh();
  try {
    const config = await loadConfig();
    setupCreate(config);
    $('server-info').textContent =
      `ringtty ${config.version}${config.writable ? '' : ' · read-only: terminals accept no input'}`;
  } catch (e) {
    $('create-error').textContent = `Cannot load the server's settings: ${(e as Error).message}`;
  }
}

void main();
