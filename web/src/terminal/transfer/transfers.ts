// File transfer through the terminal, as ttyd offers it: trzsz (`trz`/`tsz`, and files
// dropped onto the terminal) with `enableTrzsz`, ZMODEM (`rz`/`sz`) with `enableZmodem`.
// This module and the protocol libraries are fetched only when an option is on.
//
// Output passes through the protocol filters (trzsz first, then ZMODEM, as ttyd chains
// them) on its way to the terminal; what a transfer consumes never reaches xterm.js,
// and is acknowledged at once so the server's flow-control window keeps moving.
//
// Only the driver transfers: the page the user types in. Output before the offset at
// which this page became the driver (a replay after a reload, another tab's session)
// goes straight to the terminal, so an old `sz` in the scrollback never starts a
// download again, and of two tabs on one session only one answers the program.
import type { Terminal } from '@xterm/xterm';
import { Panel } from './panel';

export interface TransferHost {
  term: Terminal;
  /** Writes to the terminal as output ending at offset `end`; `done` once parsed. */
  write(data: Uint8Array, end: number, done?: () => void): void;
  /** Every output byte before `end` is consumed (on screen or taken by a transfer). */
  consumed(end: number): void;
  /** Sends bytes to the program as input; false when the connection cannot. */
  send(bytes: Uint8Array): boolean;
  /** Input bytes the socket has not sent yet (for pacing uploads). */
  buffered(): number;
}

export interface TransferOptions {
  trzsz: boolean;
  zmodem: boolean;
  /** ttyd's `trzszDragInitTimeout`: ms to wait for `trz` to start after a drop. */
  dragInitTimeout: number | null;
}

/** One protocol's filter over the output. */
export interface Filter {
  /** Output bytes; what is not the protocol's goes on to `next`. */
  consume(bytes: Uint8Array): void;
  /** A transfer (or its question) is under way: every output byte is the protocol's. */
  busy(): boolean;
  /** Stops the transfer (Cancel, Ctrl+C). */
  cancel(): void;
}

export interface Transfers {
  output(bytes: Uint8Array, end: number): void;
  /** From output offset `offset` on this page is (or is no longer) the driver. */
  role(driver: boolean, offset: number): void;
  /** A new connection: a viewer until told otherwise. */
  attached(): void;
  /** Terminal input while a transfer runs is the transfer's: true when taken. */
  input(data: string): boolean;
}

const EMPTY = new Uint8Array(0);

class Transfer implements Transfers {
  /** Output from this offset on may start a transfer; null: not the driver. */
  private activeFrom: number | null = null;
  /** The end offset of the output being filtered (what the filters write ends there). */
  private end = 0;
  private readonly filters: Filter[] = [];
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly host: TransferHost,
    readonly panel: Panel,
  ) {}

  add(filter: Filter): void {
    this.filters.push(filter);
  }

  /** Output for the terminal from a filter (or passed through). */
  toTerminal = (data: Uint8Array | string): void => {
    this.host.write(typeof data === 'string' ? this.encoder.encode(data) : data, this.end);
  };

  /** Input from a filter: the protocol's bytes, sent raw. */
  toProgram = (data: Uint8Array | string): boolean =>
    this.host.send(typeof data === 'string' ? this.encoder.encode(data) : data);

  buffered(): number {
    return this.host.buffered();
  }

  private busy(): boolean {
    return this.filters.some((f) => f.busy());
  }

  output(bytes: Uint8Array, end: number): void {
    const start = end - bytes.length;
    const from = this.busy() ? start : this.activeFrom;
    if (from === null || from >= end) {
      this.host.write(bytes, end, () => this.host.consumed(end));
      return;
    }
    if (from > start) {
      this.host.write(bytes.subarray(0, from - start), from);
      bytes = bytes.subarray(from - start);
    }
    this.end = end;
    this.filters[0].consume(bytes);
    // After whatever the filters wrote: consumed once that is parsed (at once when a
    // transfer took it all).
    this.host.write(EMPTY, end, () => this.host.consumed(end));
  }

  role(driver: boolean, offset: number): void {
    this.activeFrom = driver ? offset : null;
  }

  attached(): void {
    this.activeFrom = null;
  }

  input(data: string): boolean {
    if (!this.busy()) return false;
    // Ctrl+C stops the transfer; other keys would corrupt it.
    if (data.includes('\x03')) for (const f of this.filters) if (f.busy()) f.cancel();
    return true;
  }

  focusTerminal(): void {
    this.host.term.focus();
  }
}

export type { Transfer };

/** Loads the protocols that `options` turn on. */
export async function createTransfers(host: TransferHost, options: TransferOptions): Promise<Transfers> {
  let transfer: Transfer | null = null;
  const panel = new Panel(() => transfer?.focusTerminal());
  transfer = new Transfer(host, panel);
  const [trzsz, zmodem] = await Promise.all([
    options.trzsz ? import('./trzsz') : null,
    options.zmodem ? import('./zmodem') : null,
  ]);
  // Chained as ttyd chains them: trzsz sees the output first, ZMODEM what it passes on.
  const z = zmodem ? zmodem.zmodemFilter(transfer, transfer.toTerminal) : null;
  if (trzsz) transfer.add(trzsz.trzszFilter(transfer, host.term, z ? (d) => z.consume(d) : transfer.toTerminal, options));
  if (z) transfer.add(z);
  return transfer;
}
