// A keyboard way out of the terminal: xterm.js keeps Tab (the shell wants it), so
// Ctrl+Shift+. (period) moves the focus to the page's controls after the terminal — the
// notice's buttons when one is shown, else the status line — from where Tab goes on as
// usual. Terminal programs get nothing for Ctrl+Shift+. (xterm.js sends no byte for
// it) and browsers do not bind it. Escape on the status line goes back.
export const ESCAPE_SHORTCUT = 'Ctrl+Shift+.';

function isShortcut(e: KeyboardEvent): boolean {
  return e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey && (e.code === 'Period' || e.key === '.' || e.key === '>');
}

/** The first control the user can reach in `areas`, in order. */
function firstControl(areas: HTMLElement[]): HTMLElement | undefined {
  for (const area of areas) {
    if (area.hidden) continue;
    const hit = [...area.querySelectorAll<HTMLElement>('button, a[href], input, select')].find(
      (c) => c.offsetParent !== null && !(c as HTMLButtonElement).disabled,
    );
    if (hit) return hit;
  }
  return undefined;
}

export function installFocusEscape(
  terminal: HTMLElement,
  notice: HTMLElement,
  status: HTMLElement,
  focusTerminal: () => void,
): void {
  // Capture: before xterm.js's own handler on its textarea sees the key.
  terminal.addEventListener(
    'keydown',
    (e) => {
      if (!isShortcut(e)) return;
      const to = firstControl([notice, status]);
      if (!to) return;
      e.preventDefault();
      e.stopPropagation();
      to.focus();
    },
    true,
  );
  status.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    e.preventDefault();
    focusTerminal();
  });
}
