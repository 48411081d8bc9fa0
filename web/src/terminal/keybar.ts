// The key bar for touch screens and small windows: the keys a phone keyboard lacks —
// Esc, Tab, sticky Ctrl and Alt (they apply to the next key typed), and arrows.
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

export class KeyBar {
  private readonly mods: Mods = { ctrl: false, alt: false };
  private readonly buttons = new Map<keyof Mods, HTMLButtonElement>();
  private readonly small = matchMedia('(pointer: coarse), (max-width: 640px)');
  private enabled = false;

  constructor(
    private readonly el: HTMLElement,
    private readonly term: Terminal,
    private readonly send: (data: string) => void,
  ) {
    const keys: Key[] = [
      { label: 'Esc', title: 'Escape', press: () => this.apply('\x1b') },
      { label: 'Tab', title: 'Tab', press: () => this.apply('\t') },
      { label: 'Ctrl', title: 'Ctrl applies to the next key', modifier: 'ctrl' },
      { label: 'Alt', title: 'Alt applies to the next key', modifier: 'alt' },
      ...ARROWS.map(([label, title, final]) => ({ label, title, press: (m: Mods) => this.arrow(final, m) })),
    ];
    for (const key of keys) el.append(this.button(key));
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

  private arrow(final: string, m: Mods): string {
    // Modifier parameter as xterm encodes it: 1 + Alt(2) + Ctrl(4).
    const param = 1 + (m.alt ? 2 : 0) + (m.ctrl ? 4 : 0);
    this.disarm();
    if (param > 1) return `\x1b[1;${param}${final}`;
    return (this.term.modes.applicationCursorKeysMode ? '\x1bO' : '\x1b[') + final;
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
        this.send(key.press(this.mods));
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
 * space to NUL; anything else unchanged. */
export function controlChar(ch: string): string {
  const c = ch.toUpperCase().charCodeAt(0);
  if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c - 0x40);
  if (ch === '?') return '\x7f';
  if (ch === ' ') return '\x00';
  return ch;
}
