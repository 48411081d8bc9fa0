// The clipboard notice: a hint over the terminal (it takes no layout space, so the
// terminal keeps its size) with × to dismiss it; dismissed once, it stays away (the
// choice is kept in localStorage).
const KEY = 'ringtty.clipboardNotice';

function dismissed(): boolean {
  try {
    return localStorage.getItem(KEY) === 'dismissed';
  } catch {
    return false; // storage blocked: show it
  }
}

/** Shows `text` unless the user dismissed this notice before. `refocus` after ×. */
export function clipboardNotice(text: string, refocus: () => void): void {
  if (dismissed()) return;
  let box = document.getElementById('clipboard-notice');
  if (!box) {
    box = document.createElement('div');
    box.id = 'clipboard-notice';
    box.className = 'toast';
    box.setAttribute('role', 'status');
    const span = document.createElement('span');
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.title = 'Dismiss: do not show this again';
    close.setAttribute('aria-label', 'Dismiss this notice; it will not be shown again');
    close.addEventListener('click', () => {
      try {
        localStorage.setItem(KEY, 'dismissed');
      } catch {
        // storage blocked: dismissed for this page only
      }
      box?.remove();
      refocus();
    });
    box.append(span, close);
    document.body.append(box);
  }
  (box.firstElementChild as HTMLElement).textContent = text;
}
