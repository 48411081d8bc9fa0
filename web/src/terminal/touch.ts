// Touch scrolling: xterm.js 6 ignores a swipe on the terminal. A vertical swipe here
// does what the mouse wheel does: it scrolls the scroll-back (with some momentum after a
// flick), and where the wheel is the program's — mouse tracking on, or the alternate
// screen (less, vim), where xterm.js turns the wheel into arrow keys — it sends wheel
// events to xterm.js, which reports them as a wheel would. A tap still focuses the
// terminal (and opens a phone's keyboard): only a touch that moves is taken.
import type { Terminal } from '@xterm/xterm';

/** Pixels a finger may move and still tap. */
const TAP_SLOP = 8;
/** Momentum: speed kept per 16 ms frame, and the speed (px/ms) at which it stops. */
const FRICTION = 0.95;
const MIN_SPEED = 0.03;
/** A finger that rested this long before lifting throws nothing. */
const REST_MS = 100;

export function installTouchScroll(el: HTMLElement, term: Terminal): void {
  let tracking = false;
  let swiping = false;
  let startX = 0;
  let startY = 0;
  let lastY = 0;
  let lastT = 0;
  let x = 0;
  /** Pixels moved but not yet scrolled (less than a line). */
  let pending = 0;
  /** px/ms, positive when the finger moves up (towards newer output). */
  let speed = 0;
  let frame: number | undefined;

  const cellHeight = () => {
    const screen = term.element?.querySelector('.xterm-screen');
    return Math.max(1, (screen?.clientHeight ?? 0) / term.rows || 16);
  };
  /** The wheel belongs to the program: xterm.js reports it or sends arrow keys. */
  const programWheel = () => term.modes.mouseTrackingMode !== 'none' || term.buffer.active.type === 'alternate';

  const scroll = (pixels: number, y: number) => {
    pending += pixels;
    const cell = cellHeight();
    const lines = Math.trunc(pending / cell);
    if (!lines) return;
    pending -= lines * cell;
    if (!programWheel()) {
      term.scrollLines(lines);
      return;
    }
    // On the terminal's element, where xterm.js listens: its scrollable viewport inside
    // would take the event for itself.
    for (let i = 0; i < Math.abs(lines); i++) {
      term.element?.dispatchEvent(
        new WheelEvent('wheel', {
          deltaY: Math.sign(lines),
          deltaMode: WheelEvent.DOM_DELTA_LINE,
          clientX: x,
          clientY: y,
          bubbles: true,
          cancelable: true,
        }),
      );
    }
  };

  const stopGlide = () => {
    if (frame !== undefined) cancelAnimationFrame(frame);
    frame = undefined;
  };

  const glide = (y: number) => {
    let prev = performance.now();
    const step = (now: number) => {
      const dt = Math.min(64, now - prev);
      prev = now;
      speed *= FRICTION ** (dt / 16);
      if (Math.abs(speed) < MIN_SPEED) {
        frame = undefined;
        return;
      }
      scroll(speed * dt, y);
      frame = requestAnimationFrame(step);
    };
    frame = requestAnimationFrame(step);
  };

  el.addEventListener(
    'touchstart',
    (e) => {
      stopGlide();
      tracking = e.touches.length === 1;
      swiping = false;
      if (!tracking) return;
      const t = e.touches[0];
      startX = x = t.clientX;
      startY = lastY = t.clientY;
      lastT = e.timeStamp;
      pending = speed = 0;
    },
    { passive: true },
  );

  el.addEventListener(
    'touchmove',
    (e) => {
      if (!tracking) return;
      if (e.touches.length !== 1) {
        tracking = false;
        return;
      }
      const t = e.touches[0];
      if (!swiping) {
        const dy = Math.abs(t.clientY - startY);
        if (dy < TAP_SLOP || dy < Math.abs(t.clientX - startX)) return;
        swiping = true;
      }
      // No page bounce, no browser scroll: this swipe is the terminal's.
      if (e.cancelable) e.preventDefault();
      const moved = lastY - t.clientY;
      const dt = Math.max(1, e.timeStamp - lastT);
      speed = 0.8 * (moved / dt) + 0.2 * speed;
      lastY = t.clientY;
      lastT = e.timeStamp;
      x = t.clientX;
      scroll(moved, t.clientY);
    },
    { passive: false },
  );

  const end = (e: TouchEvent) => {
    if (!tracking) return;
    tracking = false;
    if (!swiping) return;
    // A swipe is not a tap: no click, no keyboard.
    if (e.cancelable) e.preventDefault();
    // Momentum for the scroll-back only: a program would get a burst of arrow keys.
    if (e.timeStamp - lastT < REST_MS && !programWheel()) glide(lastY);
  };
  el.addEventListener('touchend', end, { passive: false });
  el.addEventListener('touchcancel', () => {
    tracking = false;
  });
}
