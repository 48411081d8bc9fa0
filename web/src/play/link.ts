// The dashboard's "Play" link for a recorded session (`/play?s=ID`).

/** A link to the playback page of session `id`, hidden until the session is known to
 * be recorded (`setPlayable`). */
export function playLink(id: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.className = 'play';
  a.href = `./play?s=${encodeURIComponent(id)}`;
  a.textContent = 'Play';
  a.title = 'Play its recording back';
  a.setAttribute('aria-label', `Play the recording of ${id}`);
  a.hidden = true;
  return a;
}

/** Shows a row's link when its session has a recording. */
export function setPlayable(cell: HTMLElement, recorded: boolean): void {
  const a = cell.querySelector<HTMLAnchorElement>('a.play');
  if (a) a.hidden = !recorded;
}
