// Which of xterm.js's automatic answers to terminal queries this page may send.
//
// A program asks the terminal (DA `ESC[c`, DSR `ESC[6n`, OSC 11 `ESC]11;?`, ...) and
// xterm.js answers as if typed. A terminal answers once, and only what a program asks
// now: so only the driver's page answers (SPEC §4; with two tabs, the other tab's answers
// would be a second answer), and only queries in output from the offset at which the
// server said this page became the driver (`{"type":"role"}`). A connection starts as a
// viewer, and the driver changes at the end of the output, so replayed output (a reload,
// a second tab, a reconnect) always lies before that offset: nothing replayed is answered.
//
// How: the role follows the parser, not the network. Output is written in pieces split
// at the offsets where the role changes, with a write callback in between, so the flag
// changes exactly when xterm.js reaches that byte. Parser hooks, called just before
// xterm.js's own handler of each sequence it answers, mark what the handler reports
// (synchronously, in the same task) as an answer; the page drops it unless answering.
// The sequences themselves are always processed (OSC 4 sets colours, `CSI ? 1004 h`
// sets a mode and reports the focus): only the answers are dropped. Typing, pasting,
// mouse and focus reports come from DOM events, never while a hook's mark is set.
import type { IFunctionIdentifier, Terminal } from '@xterm/xterm';

/** What a data event of the terminal is. */
export type DataKind = 'typed' | 'answer' | 'dropped';

/**
 * Every CSI sequence xterm.js 6 or its image addon answers (from their sources: each
 * `triggerDataEvent` that is no user input): DA1, DA2, DSR, DECXCPR, DECRQM (ANSI and
 * private), window reports (`CSI 14/16/18 t`), DECSET (1004: the focus, reported at
 * once), XTSMGRAPHICS. DA3, XTVERSION and the kitty keyboard query are not answered by
 * this xterm.js; they are hooked so that a later one cannot answer them unseen.
 */
const CSI_QUERIES: IFunctionIdentifier[] = [
  { final: 'c' },
  { prefix: '>', final: 'c' },
  { prefix: '=', final: 'c' },
  { final: 'n' },
  { prefix: '?', final: 'n' },
  { intermediates: '$', final: 'p' },
  { prefix: '?', intermediates: '$', final: 'p' },
  { final: 't' },
  { prefix: '?', final: 'h' },
  { prefix: '?', final: 'S' },
  { prefix: '>', final: 'q' },
  { prefix: '?', final: 'u' },
];
/** OSC colour queries (`4;N;?`, `10;?`, `11;?`, `12;?`; a set is the same sequence). */
const OSC_COLOURS = [4, 10, 11, 12];
/** OSC 52 (clipboard): its answer comes asynchronously, so a query is swallowed instead. */
const OSC_CLIPBOARD = 52;
/** DECRQSS, `DCS $ q Pt ST`. */
const DCS_QUERY: IFunctionIdentifier = { intermediates: '$', final: 'q' };

const EMPTY = new Uint8Array(0);

export class Answers {
  /** Whether queries in the output being parsed now may be answered. */
  private answering = false;
  /** Set by a hook for the rest of the task: the data events are answers of this kind. */
  private marked: 'answer' | 'dropped' | null = null;
  /** Role changes at offsets not yet written to the terminal, in order. */
  private pending: { driver: boolean; offset: number }[] = [];
  /** The offset of the next output byte to be written to the terminal. */
  private written = 0;

  /** Call after every addon that answers queries is loaded: the hooks must run first. */
  constructor(private readonly term: Terminal) {
    const mark = (): false => {
      if (this.marked === null) queueMicrotask(() => (this.marked = null));
      this.marked = this.answering ? 'answer' : 'dropped';
      return false;
    };
    for (const id of CSI_QUERIES) term.parser.registerCsiHandler(id, mark);
    for (const ident of OSC_COLOURS) term.parser.registerOscHandler(ident, mark);
    term.parser.registerDcsHandler(DCS_QUERY, mark);
    // True swallows the query: the clipboard addon never reads the clipboard for it.
    term.parser.registerOscHandler(OSC_CLIPBOARD, (data) => !this.answering && data.split(';')[1] === '?');
  }

  /** A new connection whose output starts at `offset`: it is a viewer until told. */
  attached(offset: number): void {
    this.pending = [];
    this.written = offset;
    this.term.write(EMPTY, () => (this.answering = false));
  }

  /** `{"type":"role"}`: answer (or not) the queries in output from `offset` on. */
  role(driver: boolean, offset: number): void {
    if (offset <= this.written) this.term.write(EMPTY, () => (this.answering = driver));
    else this.pending.push({ driver, offset });
  }

  /** Writes output `bytes`, which end at offset `end`; `done` once parsed. */
  write(bytes: Uint8Array, end: number, done: () => void): void {
    let start = end - bytes.length;
    while (this.pending.length > 0 && this.pending[0].offset < end) {
      const { driver, offset } = this.pending.shift()!;
      if (offset > start) {
        this.term.write(bytes.subarray(0, offset - start));
        bytes = bytes.subarray(offset - start);
        start = offset;
      }
      this.term.write(EMPTY, () => (this.answering = driver));
    }
    this.written = end;
    this.term.write(bytes, done);
  }

  /** Classifies a data event of the terminal (call from `onData`). */
  kind(): DataKind {
    return this.marked ?? 'typed';
  }
}
