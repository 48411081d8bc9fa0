// The file transfer panel: one small box over the terminal that asks (receive these
// files? which files to send?), shows a transfer's progress with a Cancel button, and
// reports how it ended. Shared by trzsz and ZMODEM; one transfer at a time.
import './transfer.css';

export interface Action<T> {
  label: string;
  value: T;
}

/** Bytes as people read them: 512 B, 1.5 KiB, 3.2 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export class Panel {
  private readonly box: HTMLElement;
  private readonly title: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly bar: HTMLProgressElement;
  private readonly actions: HTMLElement;
  private readonly input: HTMLInputElement;
  private hideTimer: number | undefined;
  /** The question being asked, answered with its default when the panel is reused. */
  private settle: (() => void) | null = null;

  constructor(private readonly focusTerminal: () => void) {
    this.box = document.createElement('div');
    this.box.className = 'transfer';
    this.box.id = 'transfer';
    this.box.hidden = true;
    this.box.setAttribute('role', 'dialog');
    this.box.setAttribute('aria-label', 'File transfer');
    this.title = div('transfer-title');
    this.title.id = 'transfer-title';
    this.detail = div('transfer-detail');
    this.detail.id = 'transfer-detail';
    this.detail.setAttribute('aria-live', 'polite');
    this.bar = document.createElement('progress');
    this.bar.max = 1;
    this.actions = div('actions');
    this.input = document.createElement('input');
    this.input.type = 'file';
    this.input.id = 'transfer-input';
    this.input.hidden = true;
    this.box.append(this.title, this.detail, this.bar, this.actions, this.input);
    document.body.append(this.box);
    this.box.addEventListener('keydown', (e) => {
      // Escape answers the question with its last button (Cancel, Skip).
      if (e.key !== 'Escape') return;
      const buttons = this.actions.querySelectorAll('button');
      buttons[buttons.length - 1]?.click();
    });
  }

  /** Asks `text`; resolves with the value of the button pressed. */
  ask<T>(title: string, detail: string, actions: Action<T>[]): Promise<T> {
    this.reset('ask');
    this.title.textContent = title;
    this.detail.textContent = detail;
    this.bar.hidden = true;
    return new Promise<T>((resolve) => {
      const last = actions[actions.length - 1];
      this.settle = () => resolve(last.value);
      this.setButtons(
        actions.map((a) => [
          a.label,
          () => {
            this.settle = null;
            resolve(a.value);
          },
        ]),
      );
    });
  }

  /** Asks for files to send with the browser's file chooser; null when cancelled.
   * The chooser opens from the button's click: browsers open one only for a user's
   * gesture, never for a program's output. */
  chooseFiles(title: string, detail: string, directory = false): Promise<File[] | null> {
    this.reset('ask');
    this.title.textContent = title;
    this.detail.textContent = detail;
    this.bar.hidden = true;
    const input = this.input;
    input.value = '';
    input.multiple = true;
    input.webkitdirectory = directory;
    return new Promise((resolve) => {
      const done = (files: File[] | null) => {
        input.onchange = null;
        this.settle = null;
        resolve(files);
      };
      this.settle = () => done(null);
      input.onchange = () => {
        const files = [...(input.files ?? [])];
        done(files.length > 0 ? files : null);
      };
      this.setButtons([
        [directory ? 'Choose a folder…' : 'Choose files…', () => input.click()],
        ['Cancel', () => done(null)],
      ]);
    });
  }

  /** Shows a transfer's progress; `cancel` is the Cancel button's action. */
  progress(title: string, done: number, total: number | null, cancel: () => void): void {
    if (this.box.dataset.kind !== 'progress') {
      this.reset('progress');
      this.setButtons([['Cancel', cancel]]);
    }
    this.title.textContent = title;
    this.bar.hidden = false;
    if (total !== null && total > 0) {
      const fraction = Math.min(1, done / total);
      this.bar.value = fraction;
      this.detail.textContent = `${formatBytes(done)} of ${formatBytes(total)} (${Math.floor(fraction * 100)} %)`;
    } else {
      this.bar.removeAttribute('value');
      this.detail.textContent = formatBytes(done);
    }
  }

  /** How a transfer ended; an error stays until dismissed, success fades. */
  finish(title: string, detail: string, error: boolean): void {
    this.reset(error ? 'error' : 'done');
    this.title.textContent = title;
    this.detail.textContent = detail;
    this.bar.hidden = true;
    this.setButtons([['Dismiss', () => this.hide()]]);
    if (!error) this.hideTimer = window.setTimeout(() => this.hide(), 4000);
  }

  hide(): void {
    this.reset('');
    this.box.hidden = true;
  }

  private reset(kind: string): void {
    clearTimeout(this.hideTimer);
    // Back to the terminal unless a question takes the keyboard.
    if (kind !== 'ask' && this.box.contains(document.activeElement)) this.focusTerminal();
    const settle = this.settle;
    this.settle = null;
    settle?.();
    this.input.onchange = null;
    this.box.dataset.kind = kind;
    this.box.hidden = kind === '';
  }

  private setButtons(buttons: [string, () => void][]): void {
    this.actions.replaceChildren(
      ...buttons.map(([label, act]) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.addEventListener('click', act);
        return b;
      }),
    );
    // A question takes the keyboard (Enter answers it); progress and results leave it
    // with the terminal, where Ctrl+C cancels a transfer.
    if (this.box.dataset.kind === 'ask') this.actions.querySelector('button')?.focus();
  }
}

function div(className: string): HTMLElement {
  const el = document.createElement('div');
  el.className = className;
  return el;
}
