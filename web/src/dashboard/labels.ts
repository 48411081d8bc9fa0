// The dashboard's per-session controls beyond open/share/kill: the name with its inline
// rename (Enter saves, Esc cancels), the keep toggle (a kept session outlives its tabs),
// and the activity cell (when it last wrote output, and its latest line as a preview).
// Both changes are `PATCH /api/sessions/{id}`; every server string goes in as text.
import { api, type SessionInfo } from '../common/api';
import { age } from '../common/format';
import { setText } from './fleet';

/** Rows whose name is being edited: the poll leaves their name cell alone. */
const editing = new Set<string>();

/** Whether the name of session `id` is being edited. */
export function isEditing(id: string): boolean {
  return editing.has(id);
}

/** The name cell's content: the link (the name, or the id) and the rename button, whose
 * label is drawn by CSS so that the cell's text is the name alone. */
export function createNameCell(cell: HTMLTableCellElement, id: string, onError: (m: string) => void): void {
  const open = document.createElement('a');
  // Another node's session too: that node's address is where the page is, and the
  // node that does not own it redirects there (307).
  open.href = `./?s=${encodeURIComponent(id)}`;
  open.title = `open session ${id}`;
  const rename = document.createElement('button');
  rename.type = 'button';
  rename.className = 'rename';
  rename.title = 'Rename';
  rename.setAttribute('aria-label', `Rename ${id}`);
  rename.addEventListener('click', () => startRename(cell, id, onError));
  cell.classList.add('name');
  cell.append(open, rename);
}

export function updateNameCell(cell: HTMLTableCellElement, s: SessionInfo, mayChange: boolean): void {
  if (editing.has(s.id)) return;
  setText(cell.querySelector('a')!, s.name ?? s.id);
  cell.dataset.name = s.name ?? '';
  (cell.querySelector('button.rename') as HTMLButtonElement).hidden = !mayChange;
}

/** Swaps the link for a text field (and Save/Cancel buttons, for touch screens). */
function startRename(cell: HTMLTableCellElement, id: string, onError: (m: string) => void): void {
  if (editing.has(id)) return;
  editing.add(id);
  const shown = [...cell.children] as HTMLElement[];
  const form = document.createElement('form');
  form.className = 'rename-form';
  const input = document.createElement('input');
  input.type = 'text';
  input.className = 'rename-input';
  input.value = cell.dataset.name ?? '';
  input.placeholder = 'name (empty: none)';
  input.setAttribute('aria-label', `New name for ${id}`);
  // The server's limit is 128 bytes; a character may take up to four.
  input.maxLength = 128;
  const save = document.createElement('button');
  save.type = 'submit';
  save.className = 'rename-save';
  save.textContent = 'Save';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'rename-cancel';
  cancel.textContent = 'Cancel';
  form.append(input, save, cancel);
  for (const el of shown) el.hidden = true;
  cell.append(form);
  input.focus();
  input.select();
  const close = (name?: string | null) => {
    editing.delete(id);
    form.remove();
    for (const el of shown) el.hidden = false;
    // Back to the list's view, with the new name at once when there is one.
    if (name !== undefined) {
      cell.dataset.name = name ?? '';
      setText(cell.querySelector('a')!, name ?? id);
    }
    (cell.querySelector('button.rename') as HTMLButtonElement | null)?.focus();
  };
  cancel.addEventListener('click', () => close());
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = input.value.trim();
    save.disabled = input.disabled = true;
    api.update(id, { name: name || null }).then(
      (s) => close(s.name ?? null),
      (err: Error) => {
        save.disabled = input.disabled = false;
        input.focus();
        onError(`Cannot rename ${id}: ${err.message}`);
      },
    );
  });
}

/** The keep cell: a checkbox labelled "keep". */
export function createKeepCell(cell: HTMLTableCellElement, id: string, onError: (m: string) => void): void {
  const label = document.createElement('label');
  label.className = 'keep';
  label.title = 'Kept: the session lives on with no tab open, until it is killed or its command exits';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.setAttribute('aria-label', `Keep ${id} without clients`);
  box.addEventListener('change', () => {
    const keep = box.checked;
    box.disabled = true;
    box.dataset.busy = '1';
    const done = (kept: boolean) => {
      box.checked = kept;
      box.disabled = false;
      delete box.dataset.busy;
    };
    api.update(id, { keep }).then(
      (s) => done(s.keep === true),
      (err: Error) => {
        done(!keep);
        onError(`Cannot change keep for ${id}: ${err.message}`);
      },
    );
  });
  label.append(box, ' keep');
  cell.classList.add('keep-cell');
  cell.append(label);
}

export function updateKeepCell(cell: HTMLTableCellElement, s: SessionInfo, mayChange: boolean): void {
  const box = cell.querySelector('input')!;
  cell.dataset.keep = String(s.keep === true);
  // A change on its way is not undone by a poll that started before it.
  if (box.dataset.busy) return;
  box.checked = s.keep === true;
  box.disabled = !mayChange || s.status !== 'running';
  // A read-only login sees whether it is kept, not a control.
  (cell.firstElementChild as HTMLElement).hidden = !mayChange && s.keep !== true;
}

/** The activity cell: when it last wrote output, and its latest line. */
export function createActivityCell(cell: HTMLTableCellElement): void {
  const when = document.createElement('span');
  when.className = 'when';
  const preview = document.createElement('div');
  preview.className = 'preview';
  cell.classList.add('activity');
  cell.append(when, preview);
}

export function updateActivityCell(cell: HTMLTableCellElement, s: SessionInfo, nowMs: number): void {
  const [when, preview] = cell.children as unknown as [HTMLElement, HTMLElement];
  // The server's clock against this browser's: never "in the future".
  const text = s.last_output == null ? 'no output yet' : `output ${age((nowMs - s.last_output) / 1000)} ago`;
  setText(when, text);
  when.title = s.last_output == null ? '' : new Date(s.last_output).toLocaleString();
  setText(preview, s.preview ?? '');
  preview.title = s.preview ?? '';
}
