// asciicast v2 (asciinema's format, as `GET /api/sessions/{id}/cast` serves it): a
// header line, then one `[time, code, data]` event a line. Pure: no DOM.

export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp?: number;
  title?: string;
}

/** `o`: output, `r`: a resize (`COLSxROWS`), `m`: a marker; other codes (`i`, input)
 * are kept out: this player shows what the terminal showed. */
export interface CastEvent {
  time: number;
  code: 'o' | 'r' | 'm';
  data: string;
}

export interface Cast {
  header: CastHeader;
  events: CastEvent[];
  /** The last event's time, in seconds. */
  duration: number;
}

export class CastError extends Error {}

/** Parses a cast; throws `CastError` with the line that is wrong. A last line cut off
 * (a download while the session ran) is left out. */
export function parseCast(text: string): Cast {
  const lines = text.split('\n');
  let header: CastHeader;
  try {
    header = JSON.parse(lines[0]) as CastHeader;
  } catch {
    throw new CastError('not an asciicast file: its first line is not a JSON header');
  }
  if (header?.version !== 2 || !(header.width > 0) || !(header.height > 0)) {
    throw new CastError('not an asciicast v2 file: the header has no version 2, width and height');
  }
  const events: CastEvent[] = [];
  let last = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim()) continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) break;
      throw new CastError(`line ${i + 1} is not JSON`);
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[1] !== 'string' || typeof ev[2] !== 'string') {
      throw new CastError(`line ${i + 1} is not an event [time, code, data]`);
    }
    const [time, code, data] = ev as [number, string, string];
    if (code !== 'o' && code !== 'r' && code !== 'm') continue;
    // Times never go back (a clock step would otherwise replay out of order).
    last = Math.max(last, time);
    events.push({ time: last, code, data });
  }
  return { header, events, duration: last };
}

/** `COLSxROWS` of a resize event, or null. */
export function parseSize(data: string): { cols: number; rows: number } | null {
  const m = /^(\d+)x(\d+)$/.exec(data);
  if (!m) return null;
  const cols = Number(m[1]);
  const rows = Number(m[2]);
  return cols > 0 && rows > 0 && cols <= 4096 && rows <= 4096 ? { cols, rows } : null;
}

/** `m:ss.d` (or `h:mm:ss.d`). */
export function clock(seconds: number): string {
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = (s % 60).toFixed(1).padStart(4, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}
