// The playback page (`/play?s=ID`): fetches the session's recording
// (`./api/sessions/ID/cast`, asciicast v2) and plays it in xterm.js with play/pause, a
// seek slider, speed (0.5× to 4×) and the time. The terminal takes the recording's size
// and its resizes; the server's client options (`-t`, and the URL's) set fonts and
// colours as on the terminal page. Keys: Space plays or pauses, ←/→ seek 5 s.
import '@xterm/xterm/css/xterm.css';
import '../style.css';
import './style.css';
import { ApiError, apiUrl, loadConfig } from '../common/api';
import { toLogin } from '../common/auth';
import { resolveOptions } from '../terminal/options';
import { createTerminal, installClipboard, loadExtras } from '../terminal/view';
import { CastError, clock, parseCast, type Cast } from './cast';
import { Player } from './player';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function fail(message: string): void {
  const box = $('play-error');
  box.textContent = message;
  box.hidden = false;
  $('terminal').dataset.state = 'error';
}

async function fetchCast(id: string): Promise<Cast> {
  const response = await fetch(apiUrl(`sessions/${encodeURIComponent(id)}/cast`), { cache: 'no-store' });
  if (response.status === 401) return toLogin();
  const text = await response.text();
  if (!response.ok) {
    let reason = `${response.status} ${response.statusText}`.trim();
    try {
      const json = JSON.parse(text) as { error?: unknown };
      if (typeof json.error === 'string') reason = json.error;
    } catch {
      // Not JSON: the status line says it.
    }
    throw new ApiError(response.status, reason);
  }
  return parseCast(text);
}

async function main(): Promise<void> {
  const id = new URLSearchParams(location.search).get('s');
  if (!id) {
    fail('No recording named: open this page as play?s=SESSION_ID (the dashboard links each recorded session).');
    return;
  }
  const download = $<HTMLAnchorElement>('play-download');
  download.href = apiUrl(`sessions/${encodeURIComponent(id)}/cast`).href;
  download.hidden = false;
  let cast: Cast;
  let config;
  try {
    [cast, config] = await Promise.all([fetchCast(id), loadConfig()]);
  } catch (e) {
    const why = e instanceof ApiError || e instanceof CastError ? e.message : String(e);
    fail(`Cannot play the recording of ${id}: ${why}`);
    return;
  }
  const title = cast.header.title || id;
  $('play-title').textContent = title;
  document.title = `▶ ${title} · ringtty`;
  const markers = cast.events.filter((e) => e.code === 'm').map((e) => `${clock(e.time)}: ${e.data}`);
  if (markers.length) {
    const note = $('play-note');
    note.textContent = markers.join(' · ');
    note.hidden = false;
  }
  const el = $('terminal');
  const options = resolveOptions(config.client_options, location.search);
  // The recording's size, not the window's: no fit. Keys go nowhere (nothing listens
  // to the terminal's input) but still scroll and select, as on the terminal page.
  const { term } = createTerminal(el, options);
  await loadExtras(el, term, options);
  installClipboard(term, () => false, () => {});
  const toggle = $<HTMLButtonElement>('play-toggle');
  const seek = $<HTMLInputElement>('play-seek');
  const time = $('play-time');
  const speed = $<HTMLSelectElement>('play-speed');
  let dragging = false;
  let shown = 0;
  const player = new Player(term, cast, (p) => {
    toggle.textContent = p.playState === 'playing' ? 'Pause' : p.playState === 'ended' ? 'Replay' : 'Play';
    toggle.setAttribute('aria-pressed', String(p.playState === 'playing'));
    if (!dragging) seek.value = String(Math.round(p.position * 1000));
    time.textContent = `${clock(p.position)} / ${clock(p.duration)}`;
    // For tests and scripts: what is shown, once xterm.js has parsed it.
    const n = ++shown;
    el.dataset.state = p.playState;
    el.dataset.speed = String(p.rate);
    term.write('', () => {
      if (n === shown) el.dataset.shown = p.position.toFixed(3);
    });
  });
  seek.max = String(Math.round(cast.duration * 1000));
  seek.disabled = toggle.disabled = false;
  seek.addEventListener('input', () => {
    dragging = true;
    // The slider's end is the recording's end (its milliseconds are rounded).
    player.seek(seek.value === seek.max ? Infinity : Number(seek.value) / 1000);
    dragging = false;
  });
  toggle.addEventListener('click', () => player.toggle());
  speed.addEventListener('change', () => player.setSpeed(Number(speed.value)));
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLSelectElement || e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === ' ' && !(e.target instanceof HTMLButtonElement)) {
      e.preventDefault();
      player.toggle();
    } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      e.preventDefault();
      player.seek(player.position + (e.key === 'ArrowLeft' ? -5 : 5));
    }
  });
  player.seek(0);
  // `?autoplay=0` opens paused.
  if (new URLSearchParams(location.search).get('autoplay') !== '0') player.play();
  toggle.focus();
}

void main();
