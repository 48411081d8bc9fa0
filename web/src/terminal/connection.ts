// The native protocol's client side (docs/PROTOCOL.md): one session, attached over
// `./api/sessions/ID/ws` (subprotocol ringtty.v1), reattached with `?since=` after a
// network blip so no byte is lost or repeated, with exponential backoff.
//
// Offsets: `received` is the offset of the next output byte this page expects (from
// `hello.offset`, advanced by every binary frame and by `gap`). The terminal reports
// back with `rendered(end)` once xterm.js has parsed the bytes before `end`; acks go out
// from that, batched, never beyond what was received — so the server's flow control
// throttles the command to the speed the browser really renders at.
import { api, apiUrl, ApiError } from '../common/api';
import { authInfo, toLogin } from '../common/auth';
import { labelFromMessage, publishSessionLabel, refreshSessionLabel } from './sessionlabel';

export interface Hello {
  id: string;
  offset: number;
  cols: number;
  rows: number;
  writable: boolean;
}

export type ExitStatus = { code: number } | { signal: number };

export type State =
  | { kind: 'connecting' }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; at: number; attempt: number; reason: string }
  | { kind: 'exited'; status: ExitStatus }
  /** The session was removed (DELETE) or no longer exists (404). */
  | { kind: 'gone'; reason: string };

export interface Handlers {
  /** `resumed`: the stream continues where this page left off (a `since` attach). */
  hello(hello: Hello, resumed: boolean): void;
  /** Output bytes; call `rendered(end)` once they are on screen. */
  output(bytes: Uint8Array, end: number): void;
  gap(from: number, to: number): void;
  /** The session's size changed (another client drives it). */
  resize(cols: number, rows: number): void;
  /** This client is (or is no longer) the driver, from output offset `offset` on. */
  role(driver: boolean, offset: number): void;
  state(state: State): void;
}

/** Input is sent in messages of at most this many bytes (the protocol's advice). */
export const MAX_INPUT_MESSAGE = 64 * 1024;
/** Ack at once when this much has been rendered since the last ack... */
const ACK_BYTES = 64 * 1024;
/** ...else at most once per this many ms (about a frame). */
const ACK_DELAY_MS = 16;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;

export class Connection {
  private ws: WebSocket | null = null;
  /** Offset of the next output byte expected; null until the first hello. */
  private received: number | null = null;
  private renderedTo = 0;
  private ackedTo = 0;
  private ackTimer: number | undefined;
  private retryTimer: number | undefined;
  private attempt = 0;
  /** The last close was a live upgrade's: reconnect without the API check. */
  private upgrading = false;
  private helloSeen = false;
  private everConnected = false;
  private exitStatus: ExitStatus | null = null;
  private finished = false;
  writable = false;

  constructor(
    readonly id: string,
    private readonly on: Handlers,
  ) {
    // Back online or back on screen: retry now instead of waiting out the backoff.
    window.addEventListener('online', () => this.retryNow());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.retryNow();
    });
  }

  start(): void {
    this.open();
  }

  /** Skips the remaining backoff delay, if a reconnect is pending. */
  retryNow(): void {
    if (this.retryTimer === undefined || this.finished) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.reconnect();
  }

  /** Sends terminal input as binary frames of at most 64 KiB. False when not sent. */
  sendInput(bytes: Uint8Array): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.helloSeen || !this.writable) return false;
    for (let at = 0; at < bytes.length; at += MAX_INPUT_MESSAGE) {
      ws.send(bytes.subarray(at, at + MAX_INPUT_MESSAGE));
    }
    return true;
  }

  /** Input bytes queued in the socket, not yet sent (for pacing file uploads). */
  buffered(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  sendResize(cols: number, rows: number): void {
    if (this.writable) this.control({ type: 'resize', cols, rows });
  }

  /** xterm.js has parsed every byte before `end`. */
  rendered(end: number): void {
    if (end <= this.renderedTo) return;
    this.renderedTo = end;
    if (this.renderedTo - this.ackedTo >= ACK_BYTES) {
      this.flushAck();
    } else if (this.ackTimer === undefined) {
      this.ackTimer = window.setTimeout(() => this.flushAck(), ACK_DELAY_MS);
    }
  }

  private flushAck(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.received === null) return;
    // Never beyond what this connection was sent: bytes rendered from an earlier
    // connection lie before this one's `since`, so they are covered too.
    const offset = Math.min(this.renderedTo, this.received);
    if (offset > this.ackedTo && this.control({ type: 'ack', offset })) this.ackedTo = offset;
  }

  private control(message: object): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.helloSeen) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  private wsUrl(): string {
    const url = apiUrl(`sessions/${encodeURIComponent(this.id)}/ws`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    // A reload starts without `since` (full replay); a reconnect resumes.
    if (this.received !== null) url.searchParams.set('since', String(this.received));
    return url.href;
  }

  private open(): void {
    this.on.state(this.attempt === 0 ? { kind: 'connecting' } : this.reconnectingState('connecting'));
    const ws = new WebSocket(this.wsUrl(), 'ringtty.v1');
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.helloSeen = false;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      if (typeof ev.data === 'string') this.handleControl(ev.data);
      else this.handleOutput(new Uint8Array(ev.data as ArrayBuffer));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.handleClose(ev.code, ev.reason);
    };
  }

  private handleOutput(bytes: Uint8Array): void {
    if (this.received === null || !this.helloSeen) return; // output before hello: not this protocol
    this.received += bytes.length;
    this.on.output(bytes, this.received);
  }

  private handleControl(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn('ringtty: ignoring a malformed control message', text);
      return;
    }
    switch (msg.type) {
      case 'hello': {
        const hello = msg as unknown as Hello;
        const resumed = this.received !== null;
        this.received = hello.offset;
        // A fresh replay can start before what an earlier stream rendered; acks count
        // from the new start.
        if (!resumed) this.renderedTo = this.ackedTo = hello.offset;
        this.writable = hello.writable;
        this.helloSeen = true;
        this.everConnected = true;
        this.attempt = 0;
        this.on.hello(hello, resumed);
        this.on.state({ kind: 'connected' });
        // Its name and keep (renamed while this page was away, too).
        void refreshSessionLabel(this.id);
        break;
      }
      case 'session':
        publishSessionLabel(labelFromMessage(this.id, msg));
        break;
      case 'gap': {
        const from = Number(msg.from);
        const to = Number(msg.to);
        this.received = to;
        this.on.gap(from, to);
        break;
      }
      case 'resize':
        this.on.resize(Number(msg.cols), Number(msg.rows));
        break;
      case 'role':
        this.on.role(msg.driver === true, Number(msg.offset));
        break;
      case 'exit':
        this.exitStatus = typeof msg.signal === 'number' ? { signal: msg.signal } : { code: Number(msg.code) };
        break;
      default:
        console.warn('ringtty: ignoring an unknown control message', text);
    }
  }

  private handleClose(code: number, reason: string): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.exitStatus) {
      this.finish({ kind: 'exited', status: this.exitStatus });
    } else if (code === 1000) {
      this.finish({ kind: 'gone', reason: 'The session was closed.' });
    } else if (code === 1008 && this.received !== null) {
      // `since` lies beyond the session's output: this is not the stream we were
      // following. Start over with a full replay.
      this.received = null;
      this.scheduleReconnect('the server did not know our position; replaying');
    } else if (code === 1001 && reason.startsWith('server upgrading')) {
      // A live upgrade (--handover): the next process already holds the session and
      // its listener; reconnect at once (jittered over 0.1 s) and resume with `since`.
      // Straight to the WebSocket (a new connection, so it reaches the process that
      // accepts now), not through the API check a kept-alive connection could still
      // carry to the old one.
      this.upgrading = true;
      this.scheduleReconnect('the server is upgrading', 100);
    } else if (!this.everConnected && this.attempt === 0) {
      // The very first handshake failed: find out why at once (a stale `?s=` after a
      // server restart is the common case) rather than after a backoff delay.
      this.attempt = 1;
      void this.reconnect();
    } else {
      this.scheduleReconnect(closeReason(code, reason));
    }
  }

  private finish(state: State): void {
    this.finished = true;
    this.on.state(state);
  }

  private reconnectingState(reason: string): State {
    return { kind: 'reconnecting', at: Date.now(), attempt: this.attempt, reason };
  }

  private scheduleReconnect(reason: string, within?: number): void {
    // 0.5 s, 1 s, 2 s ... 10 s, with jitter so a restarted server is not hit by every
    // page at the same instant.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = within !== undefined ? Math.random() * within : base * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.on.state({ kind: 'reconnecting', at: Date.now() + delay, attempt: this.attempt, reason });
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconnect();
    }, delay);
  }

  /** A browser hides why a WebSocket handshake failed, so ask the API first: a 401
   * sends the page to the login page (so does a login that is gone after repeated
   * failures), a 404 means the session is gone for good, anything else is worth
   * another try. */
  private async reconnect(): Promise<void> {
    if (this.upgrading) {
      this.upgrading = false;
      this.open();
      return;
    }
    try {
      if (this.attempt >= 2) {
        const auth = await authInfo();
        if (auth.enabled && !auth.user) return toLogin();
      }
      await api.session(this.id);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        this.finish({ kind: 'gone', reason: 'This session no longer exists.' });
        return;
      }
      this.scheduleReconnect(e instanceof ApiError ? e.message : 'the server is unreachable');
      return;
    }
    this.open();
  }
}

function closeReason(code: number, reason: string): string {
  const known: Record<number, string> = {
    1001: 'the server is shutting down',
    1006: 'the connection was lost',
    1011: 'the server had an internal error',
    1013: 'the server has too many clients',
  };
  return reason || known[code] || `the connection closed (${code})`;
}
