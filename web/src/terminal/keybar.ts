// The key bar for touch screens and small windows: the keys a phone keyboard lacks —
// Esc, Tab, sticky Ctrl and Alt (they apply to the next key typed), arrows, and behind
// "More" the symbols phone keyboards hide (| ~ / - _ `), Home/End, PgUp/PgDn and F1–F12.
// Each sends what xterm sends for the key, with the armed modifiers.
import type { Terminal } from '@xterm/xterm';

interface Key {
  label: string;
  title: string;
  /** What it sends, given the armed modifiers (which it spends). */
  press?: (mods: Mods) => string;
  modifier?: keyof Mods;
}

interface Mods {
  ctrl: boolean;
  alt: boolean;
}

/** CSI final bytes of the arrow keys. */
const ARROWS: [string, string, string][] = [
  ['←', 'Left', 'D'],
  ['↑', 'Up', 'A'],
  ['↓', 'Down', 'B'],
  ['→', 'Right', 'C'],
];

/** Characters phone keyboards hide on a second or third layer. */
const SYMBOLS: [string, string][] = [
  ['|', 'Vertical bar'],
  ['~', 'Tilde'],
  ['/', 'Slash'],
  ['-', 'Hyphen'],
  ['_', 'Underscore'],
  ['`', 'Backtick'],
];

/** `ESC [ N ~` keys: PgUp, PgDn and F5–F12. */
const TILDE: Record<string, number> = {
  PgUp: 5,
  PgDn: 6,
  F5: 15,
  F6: 17,
  F7: 18,
  F8: 19,
  F9: 20,
  F10: 21,
  F11: 23,
  F12: 24,
};

/** xterm's modifier parameter: 1 + Alt(2) + Ctrl(4). */
function modParam(m: Mods): number {
  return 1 + (m.alt ? 2 : 0) + (m.ctrl ? 4 : 0);
}

export class KeyBar {
  private readonly mods: Mods = { ctrl: false, alt: false };
  private readonly buttons = new Map<keyof Mods, HTMLButtonElement>();
  private readonly small = matchMedia('(pointer: coarse), (max-width: 640px)');
  private readonly more: HTMLElement[];
  private enabled = false;

  constructor(
    private readonly el: HTMLElement,
    private readonly term: Terminal,
    private readonly send: (data: string) => void,
  ) {
    const more: Key = { label: '⋯', title: 'More keys' };
    const main: Key[] = [
      { label: 'Esc', title: 'Escape', press: () => this.apply('\x1b') },
      { label: 'Tab', title: 'Tab', press: () => this.apply('\t') },
      { label: 'Ctrl', title: 'Ctrl applies to the next key', modifier: 'ctrl' },
      { label: 'Alt', title: 'Alt applies to the next key', modifier: 'alt' },
      ...ARROWS.map(([label, title, final]) => ({ label, title, press: (m: Mods) => this.cursor(final, m) })),
      more,
    ];
    const second: Key[] = [
      ...SYMBOLS.map(([ch, title]) => ({ label: ch, title, press: () => this.apply(ch) })),
      { label: 'Home', title: 'Home', press: (m: Mods) => this.cursor('H', m) },
      { label: 'End', title: 'End', press: (m: Mods) => this.cursor('F', m) },
      { label: 'PgUp', title: 'Page Up', press: (m: Mods) => this.tilde(TILDE.PgUp, m) },
      { label: 'PgDn', title: 'Page Down', press: (m: Mods) => this.tilde(TILDE.PgDn, m) },
    ];
    const fkeys: Key[] = Array.from({ length: 12 }, (_, i) => {
      const name = `F${i + 1}`;
      const press = i < 4 ? (m: Mods) => this.ss3('PQRS'[i], m) : (m: Mods) => this.tilde(TILDE[name], m);
      return { label: name, title: name, press };
    });
    const rows = [main, second, fkeys].map((keys, i) => {
      const row = document.createElement('div');
      row.className = ['keybar-row', 'keybar-row keybar-more', 'keybar-row keybar-more keybar-fn'][i];
      row.append(...keys.map((k) => this.button(k)));
      return row;
    });
    el.append(...rows);
    this.more = rows.slice(1);
    const toggle = rows[0].lastElementChild as HTMLButtonElement;
    const show = (open: boolean) => {
      toggle.setAttribute('aria-expanded', String(open));
      for (const row of this.more) row.hidden = !open;
    };
    more.press = () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      show(open);
      remember(open);
      return '';
    };
    // The extra rows stay as the user left them, across reloads and sessions.
    show(remembered());
    this.small.addEventListener('change', () => this.update());
    this.update();
  }

  /** Shown only to clients that may type. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.update();
  }

  private update(): void {
    this.el.hidden = !(this.enabled && this.small.matches);
  }

  /** Applies armed modifiers to one typed key and disarms them. Pastes and other
   * multi-character input pass unchanged (and disarm too: the modifier was spent). */
  apply(data: string): string {
    const { ctrl, alt } = this.mods;
    if (!ctrl && !alt) return data;
    this.disarm();
    if (data.length !== 1) return data;
    let out = data;
    if (ctrl) out = controlChar(out);
    if (alt) out = '\x1b' + out;
    return out;
  }

  /** Arrows, Home and End: `ESC [ 1 ; m X` with modifiers, else `ESC [ X`, or `ESC O X`
   * in application cursor mode (DECCKM). */
  private cursor(final: string, m: Mods): string {
    const param = modParam(m);
    this.disarm();
    if (param > 1) return `\x1b[1;${param}${final}`;
    return (this.term.modes.applicationCursorKeysMode ? '\x1bO' : '\x1b[') + final;
  }

  /** PgUp, PgDn, F5–F12: `ESC [ N ~`, `ESC [ N ; m ~` with modifiers. */
  private tilde(n: number, m: Mods): string {
    const param = modParam(m);
    this.disarm();
    return param > 1 ? `\x1b[${n};${param}~` : `\x1b[${n}~`;
  }

  /** F1–F4: `ESC O P`..`ESC O S`, `ESC [ 1 ; m P` with modifiers. */
  private ss3(final: string, m: Mods): string {
    const param = modParam(m);
    this.disarm();
    return param > 1 ? `\x1b[1;${param}${final}` : `\x1bO${final}`;
  }

  private button(key: Key): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = key.label;
    b.title = key.title;
    b.setAttribute('aria-label', key.title);
    // Keep the focus (and the phone's keyboard) on the terminal.
    b.addEventListener('pointerdown', (e) => e.preventDefault());
    b.addEventListener('mousedown', (e) => e.preventDefault());
    b.addEventListener('click', () => {
      if (key.modifier) {
        this.mods[key.modifier] = !this.mods[key.modifier];
        b.setAttribute('aria-pressed', String(this.mods[key.modifier]));
      } else if (key.press) {
        const data = key.press(this.mods);
        if (data) this.send(data);
      }
      this.term.focus();
    });
    if (key.modifier) {
      b.setAttribute('aria-pressed', 'false');
      this.buttons.set(key.modifier, b);
    }
    return b;
  }

  private disarm(): void {
    this.mods.ctrl = this.mods.alt = false;
    for (const b of this.buttons.values()) b.setAttribute('aria-pressed', 'false');
  }
}

/** Ctrl+key as a terminal sends it: letters and `@[\]^_` to C0 controls, `?` to DEL,
 * `/` to US (^_, as xterm), space to NUL; anything else unchanged. */
export function controlChar(ch: string): string {
  const c = ch.toUpperCase().charCodeAt(0);
  if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c - 0x40);
  if (ch === '?') return '\x7f';
  if (ch === '/') return '\x1f';
  if (ch === ' ') return '\x00';
  return ch;
}

/** Where the key bar's *More keys* choice is kept (this origin's localStorage). */
const MORE_KEYS = 'ringtty.moreKeys';

function remembered(): boolean {
  try {
    return localStorage.getItem(MORE_KEYS) === 'open';
  } catch {
    return false; // storage refused (a privacy setting): closed, as by default
  }
}

function remember(open: boolean): void {
  try {
    if (open) localStorage.setItem(MORE_KEYS, 'open');
    else localStorage.removeItem(MORE_KEYS);
  } catch {
    // storage refused: the choice lasts as long as the page
  }
}
