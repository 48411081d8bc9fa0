// trzsz (`trz`, `tsz`, and files dropped onto the terminal) with the trzsz library's
// TrzszFilter, as ttyd wires it.
//
// In a browser the library asks for files with the File System Access API
// (`showOpenFilePicker`, `showDirectoryPicker`), which only Chromium has and only on
// HTTPS or localhost, and it writes downloads straight into a folder. This page gives it
// its own versions of the two pickers instead: uploads come from the browser's file
// chooser, downloads go through the browser's downloads (a Blob each), in every browser
// and over plain HTTP, and nothing starts before the user says so in the panel.
//
// Progress: the library draws a progress bar in the terminal; the panel shows it too,
// fed by the library's progress callbacks (its `createProgressBar`, wrapped below: the
// library is pinned, and without that method the panel shows no percentage).
import type { Terminal } from '@xterm/xterm';
import { TrzszFilter } from 'trzsz';
import type { Filter, Transfer, TransferOptions } from './transfers';
import { formatBytes } from './panel';
import { saveFile } from './save';

/** The progress callbacks the library calls (its text progress bar's methods). */
interface Progress {
  onNum(n: number): void;
  onName(name: string): void;
  onSize(size: number): void;
  onStep(step: number): void;
  onDone(): void;
  hideCursor(): void;
  showCursor(): void;
  setTerminalColumns(cols: number): void;
}

/** The library's private members this page hooks (see the file comment). */
interface Internals {
  createProgressBar?(quiet: boolean, tmuxPaneWidth?: number): void;
  detectAndHandleTrzsz?(output: unknown): Promise<void>;
  textProgressBar: Progress | null;
  /** The transfer under way; its `clientError` reports a failure to the program. */
  trzszTransfer: { clientError?(e: unknown): Promise<void> } | null;
}

class Trzsz implements Filter {
  private readonly filter: TrzszFilter;
  private readonly encoder = new TextEncoder();
  /** The transfer being shown: files announced, done, the current one. */
  private files = 0;
  private done = 0;
  private bytes = 0;
  private name = '';
  private size = 0;
  private direction: 'Uploading' | 'Downloading' = 'Downloading';
  private started = false;
  private cancelled = false;
  /** With the progress hooks: a received file waits for its checksum (`onDone`)
   * before it is saved, so a stopped transfer saves nothing. */
  private hooked = false;
  private unsaved: (() => void) | null = null;
  /** Why the transfer failed, when it did. */
  private failure: string | null = null;

  constructor(
    private readonly t: Transfer,
    term: Terminal,
    next: (data: Uint8Array) => void,
    options: TransferOptions,
  ) {
    this.filter = new TrzszFilter({
      writeToTerminal: (out) => {
        const bytes = this.bytesOf(out);
        if (!bytes) return;
        // While transferring, what the library writes is its progress bar.
        if (this.filter.isTransferringFiles()) t.toTerminal(bytes);
        else next(bytes);
      },
      sendToServer: (data) => void t.toProgram(data),
      terminalColumns: term.cols,
      isWindowsShell: false,
      dragInitTimeout: options.dragInitTimeout,
    });
    term.onResize(({ cols }) => this.filter.setTerminalColumns(cols));
    this.hookProgress();
    this.installPickers();
    this.installDrop(term);
  }

  consume(bytes: Uint8Array): void {
    this.filter.processServerOutput(bytes);
  }

  busy(): boolean {
    return this.filter.isTransferringFiles();
  }

  cancel(): void {
    this.cancelled = true;
    this.filter.stopTransferringFiles();
    // A question still open (which files?) is answered "no".
    this.t.panel.hide();
  }

  private bytesOf(out: string | ArrayBuffer | Uint8Array | Blob): Uint8Array | null {
    if (typeof out === 'string') return this.encoder.encode(out);
    if (out instanceof Uint8Array) return out;
    if (out instanceof ArrayBuffer) return new Uint8Array(out);
    console.warn('ringtty: trzsz wrote a Blob to the terminal; ignored');
    return null;
  }

  private hookProgress(): void {
    const lib = this.filter as unknown as Internals;
    const create = lib.createProgressBar?.bind(lib);
    const detect = lib.detectAndHandleTrzsz?.bind(lib);
    if (!create || !detect) {
      console.warn('ringtty: this trzsz version has no progress hooks; progress shows in the terminal only');
      return;
    }
    this.hooked = true;
    lib.createProgressBar = (quiet, tmuxPaneWidth) => {
      create(quiet, tmuxPaneWidth);
      lib.textProgressBar = this.progress(lib.textProgressBar);
      const transfer = lib.trzszTransfer;
      const report = transfer?.clientError?.bind(transfer);
      if (transfer && report) {
        transfer.clientError = (e) => {
          this.failure = e instanceof Error ? e.message : String(e);
          return report(e);
        };
      }
    };
    lib.detectAndHandleTrzsz = async (output) => {
      await detect(output);
      // A transfer that started has ended (the library catches its own errors). This
      // runs for every piece of output: the call that ran the transfer is the one
      // that finds it over.
      if (this.started && !this.filter.isTransferringFiles()) this.ended();
    };
  }

  /** The library's progress calls, shown in the panel and passed on to `inner`. */
  private progress(inner: Progress | null): Progress {
    this.started = true;
    this.failure = null;
    this.files = this.done = this.bytes = this.size = 0;
    const show = (step: number) => {
      const title = this.files > 1 ? `${this.direction} ${this.name} (${this.done + 1} of ${this.files})` : `${this.direction} ${this.name}`;
      this.t.panel.progress(title, step, this.size, () => this.cancel());
    };
    return {
      onNum: (n) => {
        this.files = n;
        inner?.onNum(n);
      },
      onName: (name) => {
        this.name = name;
        inner?.onName(name);
      },
      onSize: (size) => {
        this.size = size;
        show(0);
        inner?.onSize(size);
      },
      onStep: (step) => {
        show(step);
        inner?.onStep(step);
      },
      onDone: () => {
        this.unsaved?.();
        this.unsaved = null;
        this.done += 1;
        this.bytes += this.size;
        inner?.onDone();
      },
      hideCursor: () => inner?.hideCursor(),
      showCursor: () => inner?.showCursor(),
      setTerminalColumns: (cols) => inner?.setTerminalColumns(cols),
    };
  }

  private ended(): void {
    this.started = false;
    this.unsaved = null;
    const verb = this.direction === 'Uploading' ? 'Uploaded' : 'Downloaded';
    // `files` counts a folder's directories too; `done` only files.
    if (this.cancelled) this.t.panel.finish('Cancelled', 'The trzsz transfer was stopped.', false);
    else if (this.failure !== null) this.t.panel.finish('The trzsz transfer failed', this.failure, true);
    else this.t.panel.finish(`${verb} ${this.done === 1 ? '1 file' : `${this.done} files`} (${formatBytes(this.bytes)})`, '', false);
    this.cancelled = false;
  }

  /** The library's pickers (see the file comment). A refusal is an AbortError, which
   * the library reports to the program as the user cancelling. */
  private installPickers(): void {
    const panel = this.t.panel;
    const abort = () => {
      panel.hide();
      return new DOMException('The user cancelled', 'AbortError');
    };
    const showOpenFilePicker = async () => {
      this.direction = 'Uploading';
      this.cancelled = false;
      const files = await panel.chooseFiles('trz is waiting for files', 'Upload files to the program with trzsz.');
      if (!files) throw abort();
      return files.map((file) => new UploadFile(file));
    };
    const showDirectoryPicker = async (opts?: { id?: string }) => {
      this.cancelled = false;
      if (opts?.id === 'trzsz_upload') {
        // `trz -d`: a folder to upload.
        this.direction = 'Uploading';
        const files = await panel.chooseFiles('trz -d is waiting for a folder', 'Upload a folder with trzsz.', true);
        if (!files) throw abort();
        return UploadDir.of(files);
      }
      this.direction = 'Downloading';
      const yes = await panel.ask(
        'A program is sending files (trzsz)',
        'Receive them? Each file is saved through the browser’s downloads.',
        [
          { label: 'Receive', value: true },
          { label: 'Cancel', value: false },
        ],
      );
      if (!yes) throw abort();
      return new DownloadDir('downloads', (name, parts) => {
        if (this.hooked) this.unsaved = () => saveFile(name, parts);
        else saveFile(name, parts);
      });
    };
    for (const [name, value] of Object.entries({ showOpenFilePicker, showDirectoryPicker })) {
      Object.defineProperty(window, name, { value, configurable: true, writable: true });
    }
  }

  /** Files dropped onto the terminal are uploaded with `trz` (ttyd's behaviour: the
   * library interrupts the command line with Ctrl+C and types `trz` itself). */
  private installDrop(term: Terminal): void {
    const el = term.element?.parentElement;
    if (!el) return;
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') === true;
    el.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      el.classList.add('terminal-dragover');
    });
    el.addEventListener('dragleave', () => el.classList.remove('terminal-dragover'));
    el.addEventListener('drop', (e) => {
      el.classList.remove('terminal-dragover');
      if (!hasFiles(e) || !e.dataTransfer) return;
      e.preventDefault();
      this.direction = 'Uploading';
      this.cancelled = false;
      this.filter.uploadFiles(e.dataTransfer.items).catch((err: unknown) => {
        const text = err instanceof Error ? err.message : String(err);
        this.t.panel.finish('The upload did not start', text, true);
      });
    });
  }
}

/** A picked file as the library reads it (a FileSystemFileHandle's parts). */
class UploadFile {
  readonly kind = 'file';
  readonly name: string;
  constructor(private readonly file: File) {
    this.name = file.name;
  }
  async getFile(): Promise<File> {
    return this.file;
  }
}

/** A picked folder (from `<input webkitdirectory>`) as a directory handle's parts. */
class UploadDir {
  readonly kind = 'directory';
  private readonly entries = new Map<string, UploadDir | UploadFile>();
  constructor(readonly name: string) {}

  static of(files: File[]): UploadDir {
    const first = files[0].webkitRelativePath.split('/')[0] || 'upload';
    const root = new UploadDir(first);
    for (const file of files) {
      const parts = (file.webkitRelativePath || file.name).split('/').slice(1);
      let dir: UploadDir = root;
      for (const part of parts.slice(0, -1)) {
        let sub = dir.entries.get(part);
        if (!(sub instanceof UploadDir)) dir.entries.set(part, (sub = new UploadDir(part)));
        dir = sub;
      }
      dir.entries.set(file.name, new UploadFile(file));
    }
    return root;
  }

  async *values(): AsyncGenerator<UploadDir | UploadFile> {
    yield* this.entries.values();
  }
  async getFileHandle(name: string): Promise<UploadFile> {
    const e = this.entries.get(name);
    if (!(e instanceof UploadFile)) throw new DOMException(name, 'NotFoundError');
    return e;
  }
  async getDirectoryHandle(name: string): Promise<UploadDir> {
    const e = this.entries.get(name);
    if (!(e instanceof UploadDir)) throw new DOMException(name, 'NotFoundError');
    return e;
  }
}

/** Where downloads go: each file, once written, closed (and checked), is saved through
 * the browser's downloads under its own name (folders of `tsz -d` are flattened; the
 * browser renames a name that exists). */
class DownloadDir {
  readonly kind = 'directory';
  constructor(
    readonly name: string,
    private readonly closed: (name: string, parts: Uint8Array[]) => void,
  ) {}
  async *values(): AsyncGenerator<never> {}
  async getFileHandle(name: string) {
    return {
      kind: 'file',
      name,
      createWritable: async () => {
        const parts: Uint8Array[] = [];
        return {
          write: async (data: Uint8Array) => void parts.push(data.slice()),
          close: async () => this.closed(name, parts),
        };
      },
    };
  }
  async getDirectoryHandle(name: string): Promise<DownloadDir> {
    return new DownloadDir(name, this.closed);
  }
}

export function trzszFilter(
  t: Transfer,
  term: Terminal,
  next: (data: Uint8Array) => void,
  options: TransferOptions,
): Filter {
  return new Trzsz(t, term, next, options);
}
