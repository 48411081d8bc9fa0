// The session's name and keep as the terminal page learns them: from
// `GET /api/sessions/{id}` after each (re)connection, and from the server's
// `{"type":"session","name","keep"}` message when the session is renamed or its keep
// changes while this page is attached (docs/PROTOCOL.md). Published as a window event,
// so that whatever shows the name (the status line here, the page title) listens
// without the connection knowing about it.
import { api } from '../common/api';

export interface SessionLabel {
  id: string;
  /** Null: the session has no name. */
  name: string | null;
  keep: boolean;
}

/** The event's name; its `detail` is a `SessionLabel`. */
export const SESSION_LABEL_EVENT = 'ringtty:session';

let latest: SessionLabel | null = null;

/** The latest label published, if any. */
export function currentSessionLabel(): SessionLabel | null {
  return latest;
}

export function publishSessionLabel(label: SessionLabel): void {
  latest = label;
  window.dispatchEvent(new CustomEvent<SessionLabel>(SESSION_LABEL_EVENT, { detail: label }));
}

/** Calls `listener` with every label published from now on (and the latest one, if
 * any, at once). Returns the function that stops it. */
export function onSessionLabel(listener: (label: SessionLabel) => void): () => void {
  const handler = (e: Event) => listener((e as CustomEvent<SessionLabel>).detail);
  window.addEventListener(SESSION_LABEL_EVENT, handler);
  if (latest) listener(latest);
  return () => window.removeEventListener(SESSION_LABEL_EVENT, handler);
}

/** Asks the server for the session's label and publishes it (quietly does nothing if
 * the answer does not come: the connection reports its own errors). */
export async function refreshSessionLabel(id: string): Promise<void> {
  try {
    const s = await api.session(id);
    publishSessionLabel({ id, name: s.name ?? null, keep: s.keep === true });
  } catch {
    // Not for us to report.
  }
}

/** The label from a `session` control message. */
export function labelFromMessage(id: string, msg: Record<string, unknown>): SessionLabel {
  return { id, name: typeof msg.name === 'string' && msg.name ? msg.name : null, keep: msg.keep === true };
}

/** Shows the session's name in `el` (the status line), or its id while it has none. */
export function showSessionName(el: HTMLElement, id: string): void {
  const short = id.length > 10 ? `${id.slice(0, 8)}…` : id;
  const show = (name: string | null) => {
    el.textContent = name ?? short;
    el.title = name ? `session ${name} (${id})` : `session ${id}`;
  };
  show(null);
  onSessionLabel((label) => {
    if (label.id === id) show(label.name);
  });
}
