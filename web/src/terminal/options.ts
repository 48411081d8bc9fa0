// Client options, as ttyd has them: the server's `-t KEY=VALUE` (from /api/config),
// overridden by URL query parameters of the same name (`?fontSize=20&rendererType=dom`).
// A value is JSON when it parses as JSON (`20`, `true`, `{"background":"#fff"}`), else a
// string. Keys are either xterm.js terminal options or the UI's own; anything else, or a
// value of the wrong type, is skipped with a console warning rather than breaking the page.
import type { ITerminalOptions } from '@xterm/xterm';

type Kind = 'number' | 'boolean' | 'string' | 'object';

/** xterm.js `ITerminalOptions` a user may set, with the type each takes. */
const XTERM_OPTIONS: Record<string, Kind[]> = {
  allowTransparency: ['boolean'],
  altClickMovesCursor: ['boolean'],
  convertEol: ['boolean'],
  cursorBlink: ['boolean'],
  cursorStyle: ['string'],
  cursorWidth: ['number'],
  cursorInactiveStyle: ['string'],
  customGlyphs: ['boolean'],
  drawBoldTextInBrightColors: ['boolean'],
  fastScrollSensitivity: ['number'],
  fontFamily: ['string'],
  fontSize: ['number'],
  fontWeight: ['number', 'string'],
  fontWeightBold: ['number', 'string'],
  ignoreBracketedPasteMode: ['boolean'],
  letterSpacing: ['number'],
  lineHeight: ['number'],
  logLevel: ['string'],
  macOptionIsMeta: ['boolean'],
  macOptionClickForcesSelection: ['boolean'],
  minimumContrastRatio: ['number'],
  reflowCursorLine: ['boolean'],
  rescaleOverlappingGlyphs: ['boolean'],
  rightClickSelectsWord: ['boolean'],
  screenReaderMode: ['boolean'],
  scrollback: ['number'],
  scrollOnEraseInDisplay: ['boolean'],
  scrollOnUserInput: ['boolean'],
  scrollSensitivity: ['number'],
  smoothScrollDuration: ['number'],
  tabStopWidth: ['number'],
  theme: ['object'],
  wordSeparator: ['string'],
};

/** The UI's own options (ttyd's names where ttyd has the option). */
export interface UiOptions {
  /** `webgl` (default; falls back to DOM), `dom`; `canvas` means DOM (xterm.js 6 has no canvas renderer). */
  rendererType: 'webgl' | 'dom';
  /** No "leave this page?" prompt while attached to a running session with input. */
  disableLeaveAlert: boolean;
  /** No COLSxROWS overlay while resizing. */
  disableResizeOverlay: boolean;
  /** A fixed window title instead of the one the terminal sets. */
  titleFixed: string | null;
  /** Sixel and iTerm inline images (the image addon). */
  enableSixel: boolean;
  /** File transfer with trzsz (`trz`/`tsz`, drag and drop): docs/WEB.md "File transfer". */
  enableTrzsz: boolean;
  /** File transfer with ZMODEM (`rz`/`sz`). */
  enableZmodem: boolean;
  /** Milliseconds to wait for `trz` to start after files are dropped (trzsz's default, 3000, when null). */
  trzszDragInitTimeout: number | null;
}

const UI_OPTIONS: Record<keyof UiOptions, Kind[]> = {
  rendererType: ['string'],
  disableLeaveAlert: ['boolean'],
  disableResizeOverlay: ['boolean'],
  titleFixed: ['string'],
  enableSixel: ['boolean'],
  enableTrzsz: ['boolean'],
  enableZmodem: ['boolean'],
  trzszDragInitTimeout: ['number'],
};

/** Query parameters that are not options. */
const RESERVED = new Set(['s', 'keep']);

export const DEFAULT_XTERM: ITerminalOptions = {
  fontSize: 15,
  fontFamily: '"DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, "Liberation Mono", monospace',
  cursorBlink: true,
  scrollback: 10000,
  // The server keeps up to --scrollback bytes (1 MiB by default) for replay on reload;
  // 10000 lines hold most of that.
  theme: { background: '#111318', foreground: '#d8dee9', cursor: '#d8dee9', selectionBackground: '#4c566a' },
};

export const DEFAULT_UI: UiOptions = {
  rendererType: 'webgl',
  disableLeaveAlert: false,
  disableResizeOverlay: false,
  titleFixed: null,
  enableSixel: true,
  enableTrzsz: false,
  enableZmodem: false,
  trzszDragInitTimeout: null,
};

export interface Options {
  xterm: ITerminalOptions;
  ui: UiOptions;
  /** What was skipped, and why. */
  warnings: string[];
}

/** A query-string value as `-t` values are read: JSON where it parses, else the string. */
export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** `value` coerced to one of `kinds`, or undefined when it cannot be. */
function coerce(value: unknown, kinds: Kind[]): unknown {
  for (const kind of kinds) {
    if (kind === 'object' && value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
    if (kind !== 'object' && typeof value === kind) return value;
  }
  // `?titleFixed=42` parses as a number but means the string; `?cursorBlink=0` means false.
  if (kinds.includes('string') && (typeof value === 'number' || typeof value === 'boolean')) return String(value);
  if (kinds.includes('boolean') && (value === 0 || value === 1)) return value === 1;
  return undefined;
}

export function resolveOptions(serverOptions: Record<string, unknown>, query: string): Options {
  const merged = new Map<string, unknown>(Object.entries(serverOptions));
  for (const [key, raw] of new URLSearchParams(query)) {
    if (!RESERVED.has(key)) merged.set(key, parseValue(raw));
  }
  const xterm: Record<string, unknown> = { ...DEFAULT_XTERM };
  const ui: Record<string, unknown> = { ...DEFAULT_UI };
  const warnings: string[] = [];
  for (const [key, value] of merged) {
    const target = key in UI_OPTIONS ? ui : key in XTERM_OPTIONS ? xterm : null;
    const kinds = UI_OPTIONS[key as keyof UiOptions] ?? XTERM_OPTIONS[key];
    if (!target || !kinds) {
      warnings.push(`unknown option ${key}`);
      continue;
    }
    const v = coerce(value, kinds);
    if (v === undefined) {
      warnings.push(`option ${key}: expected ${kinds.join(' or ')}, got ${JSON.stringify(value)}`);
      continue;
    }
    target[key] = key === 'theme' ? { ...(DEFAULT_XTERM.theme ?? {}), ...(v as object) } : v;
  }
  // xterm.js 6 dropped its canvas renderer: ttyd's `canvas` gets the DOM renderer.
  if (!['webgl', 'dom', 'canvas'].includes(ui.rendererType as string)) {
    warnings.push(`option rendererType: expected webgl, dom or canvas, got ${JSON.stringify(ui.rendererType)}`);
    ui.rendererType = DEFAULT_UI.rendererType;
  }
  ui.rendererType = ui.rendererType === 'webgl' ? 'webgl' : 'dom';
  if (ui.titleFixed === '') ui.titleFixed = null;
  return { xterm: xterm as ITerminalOptions, ui: ui as unknown as UiOptions, warnings };
}
