// Plays a cast into an xterm.js terminal: play/pause, seek, speed. Seeking forward
// writes the events in between at once; seeking back resets the terminal and writes
// everything up to the new position (one write per stretch between resizes).
//
// xterm.js parses writes later (its write buffer) but resizes at once: so a reset and a
// resize are done in a write's callback, which xterm.js runs after that write is parsed
// and before the next one, and everything happens in the recording's order.
import type { Terminal } from '@xterm/xterm';
import { parseSize, type Cast } from './cast';

export type PlayState = 'paused' | 'playing' | 'ended';

/** The longest the clock waits between updates of the time shown. */
const TICK_MS = 100;

export class Player {
  /** Seconds into the recording. */
  private pos = 0;
  /** The next event to apply. */
  private next = 0;
  private state: PlayState = 'paused';
  private speed = 1;
  /** While playing: the wall clock and position playing started from. */
  private base = { wall: 0, pos: 0 };
  private timer: number | undefined;

  constructor(
    private readonly term: Terminal,
    private readonly cast: Cast,
    private readonly changed: (p: Player) => void,
  ) {
    this.reset();
  }

  get position(): number {
    return this.pos;
  }

  get duration(): number {
    return this.cast.duration;
  }

  get playState(): PlayState {
    return this.state;
  }

  get rate(): number {
    return this.speed;
  }

  play(): void {
    if (this.state === 'playing') return;
    if (this.state === 'ended' || this.pos >= this.duration) this.seek(0);
    this.state = 'playing';
    this.base = { wall: performance.now(), pos: this.pos };
    this.tick();
  }

  pause(): void {
    if (this.state !== 'playing') return;
    this.pos = this.now();
    this.state = 'paused';
    clearTimeout(this.timer);
    this.changed(this);
  }

  toggle(): void {
    if (this.state === 'playing') this.pause();
    else this.play();
  }

  setSpeed(speed: number): void {
    if (!(speed > 0)) return;
    if (this.state === 'playing') this.base = { wall: performance.now(), pos: this.now() };
    this.speed = speed;
    this.changed(this);
  }

  /** Shows the terminal as it was `seconds` into the recording. */
  seek(seconds: number): void {
    const to = Math.min(Math.max(0, seconds), this.duration);
    if (to < this.pos || (this.next > 0 && to < this.cast.events[this.next - 1].time)) this.reset();
    this.apply(to);
    this.pos = to;
    if (this.state === 'playing') {
      this.base = { wall: performance.now(), pos: to };
      this.tick();
      return;
    }
    this.state = this.next >= this.cast.events.length && to >= this.duration ? 'ended' : 'paused';
    this.changed(this);
  }

  private now(): number {
    return Math.min(this.duration, this.base.pos + ((performance.now() - this.base.wall) / 1000) * this.speed);
  }

  private tick(): void {
    clearTimeout(this.timer);
    if (this.state !== 'playing') return;
    this.pos = this.now();
    this.apply(this.pos);
    if (this.next >= this.cast.events.length) {
      this.pos = this.duration;
      this.state = 'ended';
      this.changed(this);
      return;
    }
    this.changed(this);
    const wait = ((this.cast.events[this.next].time - this.pos) / this.speed) * 1000;
    this.timer = window.setTimeout(() => this.tick(), Math.max(0, Math.min(TICK_MS, wait)));
  }

  /** An empty terminal of the recording's size, before its first event. */
  private reset(): void {
    const { width, height } = this.cast.header;
    // RIS (ESC c): a full reset, in order with what was written before.
    this.term.write('\x1bc', () => {
      this.term.clear();
      this.term.resize(width, height);
    });
    this.next = 0;
    this.pos = 0;
  }

  /** Writes every event up to time `t`. */
  private apply(t: number): void {
    const events = this.cast.events;
    let out = '';
    while (this.next < events.length && events[this.next].time <= t) {
      const ev = events[this.next++];
      if (ev.code === 'o') {
        out += ev.data;
      } else if (ev.code === 'r') {
        const size = parseSize(ev.data);
        if (!size) continue;
        this.term.write(out, () => this.term.resize(size.cols, size.rows));
        out = '';
      }
    }
    if (out) this.term.write(out);
  }
}
