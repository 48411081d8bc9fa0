// Saving a received file: a Blob handed to the browser's downloads (an anchor with
// `download`), so the browser's own save UI and settings apply, in every browser and
// on plain HTTP too.

/** A name a program chose, made safe to suggest: no path, no control characters. */
export function safeName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '_').trim();
  return clean === '' || clean === '.' || clean === '..' ? 'download' : clean;
}

export function saveFile(name: string, parts: Uint8Array[]): void {
  const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = safeName(name);
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has taken the Blob once the click's task is done; give it a while.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
