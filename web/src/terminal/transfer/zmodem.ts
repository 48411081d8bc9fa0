// ZMODEM (`rz`, `sz` of lrzsz) over the terminal, with zmodem-ts (a maintained
// TypeScript fork of zmodem.js, the library ttyd uses, with ES modules and types).
//
// The Sentry watches the output for a ZMODEM start. Nothing starts unasked: `sz`
// (a program sending) asks whether to receive; `rz` (a program waiting) asks for files,
// picked with the browser's file chooser. Received files are saved through the
// browser's downloads once whole (they are held in memory until then).
import Zmodem from 'zmodem-ts';
import type { Filter, Transfer } from './transfers';
import { formatBytes } from './panel';
import { saveFile } from './save';

// zmodem-ts types its objects loosely; these are the parts used here.
interface Detection {
  confirm(): Session;
  deny(): void;
  is_valid(): boolean;
  get_session_role(): string;
}
interface Session {
  type: string;
  on(event: string, handler: (arg: never) => void): void;
  start(): void;
  abort(): void;
  aborted(): boolean;
  has_ended(): boolean;
  close(): Promise<unknown>;
  send_offer(params: {
    name: string;
    size: number;
    mtime: Date;
    files_remaining: number;
    bytes_remaining: number;
  }): Promise<Xfer | undefined>;
}
interface Xfer {
  get_offset(): number;
  send(bytes: Uint8Array): void;
  end(bytes: Uint8Array): Promise<unknown>;
}
interface Offer {
  get_details(): { name: string; size?: number };
  get_offset(): number;
  on(event: 'input', handler: () => void): void;
  accept(): Promise<Uint8Array[]>;
}

const ABORT = new Uint8Array([...Array(10).fill(0x18), ...Array(10).fill(0x08)]);
/** After a cancel, the output is held until it pauses this long... */
const DRAIN_QUIET_MS = 300;
/** ...keeping this much of its end. */
const DRAIN_KEEP = 4096;
/** Soft reset (charsets, attributes, modes, margins), main screen, no mouse reports,
 * then a clean line: what the dropped data may have changed. */
const RESET = new TextEncoder().encode('\x1b[!p\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x0f\r\x1b[2K');
const CLEAR_LINE = new TextEncoder().encode('\r\x1b[2K');
/** Bytes read from a file and handed to the library at a time. */
const CHUNK = 64 * 1024;
/** Uploads wait while the socket holds this much unsent input. */
const MAX_BUFFERED = 1024 * 1024;

class ZmodemFilter implements Filter {
  private readonly sentry: InstanceType<typeof Zmodem.Sentry>;
  /** The latest detection not yet confirmed or denied (the program repeats its start). */
  private detection: Detection | null = null;
  /** A question about a detection is open. */
  private asking = false;
  private session: Session | null = null;
  private cancelled = false;
  /** After a cancel: the sender's data still in flight is dropped (see `toTerminal`). */
  private draining = false;
  private drainTimer: number | undefined;
  /** The end of the output held back while draining. */
  private held = new Uint8Array(0);

  constructor(
    private readonly t: Transfer,
    private readonly next: (data: Uint8Array) => void,
  ) {
    this.sentry = new Zmodem.Sentry({
      to_terminal: (octets: ArrayLike<number>) => {
        if (octets.length > 0) this.toTerminal(Uint8Array.from(octets));
      },
      sender: (octets: ArrayLike<number>) => t.toProgram(Uint8Array.from(octets)),
      on_detect: (d: Detection) => this.detected(d),
      on_retract: () => this.retracted(),
    });
  }

  consume(bytes: Uint8Array): void {
    // Most output cannot start a session (every ZMODEM header has a ZDLE, 0x18): past
    // the Sentry, which copies each piece into an array of numbers. A piece ending in
    // `*` goes through, in case the header's `**` and ZDLE are split across reads.
    if (!this.session && !this.detection && !this.draining && !bytes.includes(0x18) && bytes[bytes.length - 1] !== 0x2a) {
      this.next(bytes);
      return;
    }
    try {
      this.sentry.consume(bytes);
      this.unstick();
    } catch (e) {
      // A broken session: abort it (the Sentry lets go of an ended session only), so
      // that the terminal carries on.
      const session = this.session;
      if (!session) return console.warn('ringtty: ZMODEM:', e);
      try {
        if (!session.has_ended()) session.abort();
      } catch {
        // already ended
      }
      this.end(false, `ZMODEM transfer failed: ${message(e)}`);
    }
  }

  /**
   * lrzsz's `sz` on a terminal often loses its last two bytes, the "OO" after both
   * sides' ZFIN (it flushes the terminal as it exits), and zmodem-ts waits for them
   * for ever, keeping all later output. Once both ZFINs are through, whatever else
   * comes ends the session and goes to the terminal. (zmodem-ts 1.0.5's internals:
   * pinned in package.json.)
   */
  private unstick(): void {
    const s = this.session as unknown as {
      type?: string;
      _got_ZFIN?: boolean;
      _input_buffer?: number[];
      _on_session_end?: () => void;
    } | null;
    const buffer = s?._input_buffer;
    if (!s || s.type !== 'receive' || !s._got_ZFIN || !buffer || !s._on_session_end) return;
    if (buffer.length === 0 || (buffer[0] === 79 && (buffer.length === 1 || buffer[1] === 79))) return;
    const rest = Uint8Array.from(buffer.splice(0));
    s._on_session_end();
    this.next(rest);
  }

  busy(): boolean {
    return this.session !== null;
  }

  /**
   * Output for the terminal. After a cancel the sender goes on sending until it reads
   * the abort: up to a flow-control window of binary data, whose stray control bytes
   * (SO, `ESC ( 0`, `ESC [ ? 1049 h`...) would leave the terminal garbled. So until
   * the output pauses (DRAIN_QUIET_MS) it is held back, and then only its text tail
   * (the shell's prompt, say) is shown, after a soft reset.
   */
  private toTerminal(bytes: Uint8Array): void {
    if (!this.draining) return this.next(bytes);
    const held = new Uint8Array(Math.min(DRAIN_KEEP, this.held.length + bytes.length));
    const fromHeld = held.length - Math.min(bytes.length, held.length);
    held.set(this.held.subarray(this.held.length - fromHeld), 0);
    held.set(bytes.subarray(bytes.length - (held.length - fromHeld)), fromHeld);
    this.held = held;
    clearTimeout(this.drainTimer);
    this.drainTimer = window.setTimeout(() => this.drained(), DRAIN_QUIET_MS);
  }

  private drained(): void {
    clearTimeout(this.drainTimer);
    if (!this.draining) return;
    this.draining = false;
    const tail = textTail(this.held);
    this.held = new Uint8Array(0);
    this.next(RESET);
    if (tail.length > 0) this.next(tail);
  }

  cancel(): void {
    this.cancelled = true;
    const session = this.session;
    if (session && !session.has_ended()) {
      // lrzsz's own abort (ten CAN, ten backspaces): a sender checking for input
      // mid-stream eats the first CAN, and the five of zmodem-ts's abort then fall
      // one short of the five in a row it needs.
      this.t.toProgram(ABORT);
      this.draining = true;
      this.drainTimer = window.setTimeout(() => this.drained(), DRAIN_QUIET_MS);
      try {
        session.abort();
      } catch {
        // already ended
      }
    }
    this.end(true, 'The ZMODEM transfer was cancelled.');
  }

  private detected(d: Detection): void {
    this.detection = d;
    // The program repeats its start while it waits: the open question answers the
    // latest one.
    if (this.asking || this.session) return;
    this.asking = true;
    const upload = d.get_session_role() === 'send';
    void (upload ? this.upload() : this.download()).finally(() => (this.asking = false));
  }

  private retracted(): void {
    this.detection = null;
    // Retracted for good unless a new start follows in the same output chunk.
    queueMicrotask(() => {
      if (this.asking && !this.detection) this.t.panel.hide();
    });
  }

  /** Takes the latest valid detection, confirmed; null when the program gave up. */
  private confirm(): Session | null {
    const d = this.detection;
    this.detection = null;
    if (!d || !d.is_valid()) return null;
    this.cancelled = false;
    const session = d.confirm();
    this.session = session;
    session.on('session_end', () => {
      if (this.session === session) this.session = null;
      // The start sequence the program printed (`**B0100…`) is on the cursor's line.
      this.next(CLEAR_LINE);
    });
    return session;
  }

  /** No: the program is told with lrzsz's abort (zmodem-ts's `deny` sends five CANs,
   * which a waiting `rz` may read one short, as in `cancel`). */
  private deny(): void {
    this.detection = null;
    this.t.toProgram(ABORT);
    this.next(CLEAR_LINE);
  }

  /** `rz` waits for files. */
  private async upload(): Promise<void> {
    const files = await this.t.panel.chooseFiles('rz is waiting for files', 'Upload files to the program with ZMODEM.');
    if (!files) {
      this.deny();
      this.t.panel.hide();
      return;
    }
    const session = this.confirm();
    if (!session) return this.t.panel.finish('The upload did not start', 'rz is no longer waiting.', true);
    const total = files.reduce((n, f) => n + f.size, 0);
    let sent = 0;
    try {
      for (const [i, file] of files.entries()) {
        const xfer = await session.send_offer({
          name: file.name,
          size: file.size,
          mtime: new Date(file.lastModified),
          files_remaining: files.length - i,
          bytes_remaining: total - sent,
        });
        if (this.cancelled) return;
        // Skipped by the receiver (it has the file already, say).
        if (xfer) await this.sendFile(xfer, file, i, files.length);
        if (this.cancelled) return;
        sent += file.size;
      }
      await session.close();
      this.end(false, null, `Uploaded ${count(files.length)} (${formatBytes(total)})`);
    } catch (e) {
      if (!this.cancelled) this.end(false, `The upload failed: ${message(e)}`);
    }
  }

  private async sendFile(xfer: Xfer, file: File, index: number, of: number): Promise<void> {
    const title = of > 1 ? `Uploading ${file.name} (${index + 1} of ${of})` : `Uploading ${file.name}`;
    let offset = xfer.get_offset();
    for (;;) {
      const end = Math.min(file.size, offset + CHUNK);
      const bytes = new Uint8Array(await file.slice(offset, end).arrayBuffer());
      if (this.cancelled) return;
      this.t.panel.progress(title, end, file.size, () => this.cancel());
      if (end >= file.size) {
        await xfer.end(bytes);
        return;
      }
      xfer.send(bytes);
      offset = end;
      // Streamed without acknowledgements: pace on the socket so that a large file
      // is not all queued in memory at once.
      while (this.t.buffered() > MAX_BUFFERED && !this.cancelled) await sleep(20);
    }
  }

  /** `sz` sends files. */
  private async download(): Promise<void> {
    const yes = await this.t.panel.ask(
      'A program is sending files (ZMODEM)',
      'Receive them? Each file is saved through the browser’s downloads.',
      [
        { label: 'Receive', value: true },
        { label: 'Cancel', value: false },
      ],
    );
    if (!yes) {
      this.deny();
      this.t.panel.hide();
      return;
    }
    const session = this.confirm();
    if (!session) return this.t.panel.finish('The download did not start', 'The sender is no longer waiting.', true);
    let files = 0;
    let bytes = 0;
    session.on('offer', (offer: Offer) => {
      const { name, size } = offer.get_details();
      const title = `Downloading ${name}`;
      const total = typeof size === 'number' ? size : null;
      this.t.panel.progress(title, 0, total, () => this.cancel());
      offer.on('input', () => this.t.panel.progress(title, offer.get_offset(), total, () => this.cancel()));
      offer.accept().then(
        (payloads) => {
          saveFile(name, payloads);
          files += 1;
          bytes += offer.get_offset();
        },
        (e) => {
          if (!this.cancelled) this.end(false, `The download of ${name} failed: ${message(e)}`);
        },
      );
    });
    session.on('session_end', () => {
      if (this.cancelled) return;
      if (session.aborted()) this.end(false, 'The sender stopped the transfer.');
      else this.end(false, null, `Downloaded ${count(files)} (${formatBytes(bytes)})`);
    });
    session.start();
  }

  /** The transfer is over: report `error`, or `done`. */
  private end(cancelled: boolean, error: string | null, done = ''): void {
    this.session = null;
    if (cancelled) this.t.panel.finish('Cancelled', error ?? '', false);
    else if (error) this.t.panel.finish('Transfer failed', error, true);
    else this.t.panel.finish(done, '', false);
  }
}

/** The longest end of `bytes` that reads as terminal text: printable ASCII, CR, LF,
 * tab, backspace, BEL, ESC and whole UTF-8 characters (not C1 controls). */
export function textTail(bytes: Uint8Array): Uint8Array {
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if ((b >= 0x20 && b < 0x7f) || b === 0x0d || b === 0x0a || b === 0x09 || b === 0x08 || b === 0x07 || b === 0x1b) {
      i += 1;
      continue;
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let ok = len > 0 && i + len <= bytes.length;
    for (let k = 1; ok && k < len; k++) ok = (bytes[i + k] & 0xc0) === 0x80;
    if (ok && len === 2 && b === 0xc2 && bytes[i + 1] < 0xa0) ok = false; // C1 controls
    if (ok) {
      i += len;
    } else {
      i += 1;
      start = i;
    }
  }
  return bytes.subarray(start);
}

function count(n: number): string {
  return n === 1 ? '1 file' : `${n} files`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function zmodemFilter(t: Transfer, next: (data: Uint8Array) => void): Filter {
  return new ZmodemFilter(t, next);
}
