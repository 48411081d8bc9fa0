// The xterm.js terminal with its addons, renderer choice and copy/paste.
import { ClipboardAddon } from '@xterm/addon-clipboard';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Terminal } from '@xterm/xterm';
import type { Options } from './options';

export interface View {
  term: Terminal;
  fit: FitAddon;
}

export function createTerminal(el: HTMLElement, options: Options): View {
  // The unicode11 addon's width tables are a "proposed" API in xterm.js 6.
  const term = new Terminal({ ...options.xterm, allowProposedApi: true });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  term.loadAddon(new WebLinksAddon());
  // OSC 52: programs (tmux, vim) may set the clipboard. Reading it is not offered.
  term.loadAddon(new ClipboardAddon());
  term.open(el);
  el.dataset.renderer = 'dom';
  fit.fit();
  return { term, fit };
}

/**
 * The WebGL renderer and the image addon, which are most of the bundle: fetched as
 * separate chunks while the session is being created, so that they are off the path to
 * the first output. Call before attaching: output (a replay with images in it, say)
 * must not be parsed before the image addon is there.
 */
export async function loadExtras(el: HTMLElement, term: Terminal, options: Options): Promise<void> {
  const [image, webgl] = await Promise.all([
    options.ui.enableSixel ? import('@xterm/addon-image') : null,
    options.ui.rendererType === 'webgl' ? import('@xterm/addon-webgl') : null,
  ]).catch((e) => {
    console.warn('ringtty: could not load the image and WebGL addons:', e);
    return [null, null];
  });
  if (image) term.loadAddon(new image.ImageAddon());
  if (webgl && loadWebgl(term, webgl.WebglAddon)) el.dataset.renderer = 'webgl';
}

/** The WebGL renderer, or false where WebGL is unavailable (no GPU, blocked): xterm.js
 * then keeps its DOM renderer. A lost context later also falls back to DOM. */
function loadWebgl(term: Terminal, WebglAddon: typeof import('@xterm/addon-webgl').WebglAddon): boolean {
  try {
    const webgl = new WebglAddon();
    webgl.onContextLoss(() => {
      webgl.dispose();
      if (term.element?.parentElement) term.element.parentElement.dataset.renderer = 'dom';
    });
    term.loadAddon(webgl);
    return true;
  } catch (e) {
    console.info('ringtty: WebGL unavailable, using the DOM renderer:', e);
    return false;
  }
}

/** Copies to the clipboard; the async API needs a secure context (https or localhost),
 * so plain-http pages fall back to `execCommand('copy')`. */
export async function copyText(text: string, term: Terminal): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    term.focus();
    return ok;
  }
}

/**
 * Select-to-copy, Ctrl+Shift+C (copy), Ctrl+Shift+V (the browser's own paste, which
 * xterm.js turns into input) and right-click paste. `canPaste` is false for a
 * read-only client; `notify` reports what the browser refused.
 */
export function installClipboard(term: Terminal, canPaste: () => boolean, notify: (text: string) => void): void {
  let selectionTimer: number | undefined;
  term.onSelectionChange(() => {
    clearTimeout(selectionTimer);
    // While the mouse drags the selection changes on every move: copy when it settles.
    selectionTimer = window.setTimeout(() => {
      const text = term.getSelection();
      if (text) void copyText(text, term);
    }, 150);
  });
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey || e.altKey || e.metaKey) return true;
    if (e.code === 'KeyC') {
      e.preventDefault();
      const text = term.getSelection();
      if (text) void copyText(text, term);
      return false;
    }
    // Not sent as ^V: the browser's paste event follows and xterm.js pastes it.
    return e.code !== 'KeyV';
  });
  term.element?.addEventListener('contextmenu', (e) => {
    if (!canPaste() || !navigator.clipboard?.readText) return; // the browser's own menu
    e.preventDefault();
    navigator.clipboard.readText().then(
      (text) => {
        if (text) term.paste(text);
        term.focus();
      },
      () => notify('The browser refused to read the clipboard: paste with Ctrl+Shift+V.'),
    );
  });
}
