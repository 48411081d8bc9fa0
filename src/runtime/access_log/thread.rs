//! The logger thread: receives records from every worker, formats and writes them,
//! flushes, reopens the file on request. The only place the access log does IO.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Record;
use crate::config::AccessLogTarget;

/// Records that may wait for the logger thread, from all workers together. The channel
/// holds them inline (about 300 bytes each: 1.2 MiB), so this is its memory bound too.
const CHANNEL_RECORDS: usize = 4096;
/// The longest a written line waits in the `BufWriter` before it is flushed.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What the logger thread receives.
// Large on purpose: the channel's slots are allocated once, up front; boxing the record
// would allocate per line on the worker.
#[allow(clippy::large_enum_variant)]
enum Msg {
    /// Inline, not boxed (see above).
    Record(Record),
    /// Look at the control flags now (reopen, stop).
    Wake,
}

/// The workers' end of the channel, in `Shared`. `SyncSender` is `Sync`: one for all.
pub struct Sink {
    tx: SyncSender<Msg>,
}

impl Sink {
    /// Hands a record to the logger thread without waiting; `false` if it was dropped
    /// (the channel is full, or the thread has stopped).
    pub fn try_send(&self, record: Record) -> bool {
        self.tx.try_send(Msg::Record(record)).is_ok()
    }
}

/// The supervisor's handle on the logger thread.
pub struct Logger {
    tx: SyncSender<Msg>,
    control: Arc<Control>,
    thread: std::thread::JoinHandle<()>,
}

#[derive(Default)]
struct Control {
    reopen: AtomicBool,
    stop: AtomicBool,
}

/// Opens the log and starts its thread. `Err` is a one-line startup error.
pub fn start(target: &AccessLogTarget) -> Result<(Logger, Sink), String> {
    let out = Output::open(target)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_RECORDS);
    let control = Arc::new(Control::default());
    let ctl = control.clone();
    let thread = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || run(rx, out, &ctl))
        .map_err(|e| format!("cannot start the access-log thread: {e}"))?;
    Ok((Logger { tx: tx.clone(), control, thread }, Sink { tx }))
}

impl Logger {
    /// Whether SIGHUP should reopen it (a file; stdout is not reopened).
    pub fn reopens(target: &AccessLogTarget) -> bool {
        matches!(target, AccessLogTarget::File(_))
    }

    /// Asks the thread to reopen the file (logrotate moved it away).
    pub fn reopen(&self) {
        self.control.reopen.store(true, Relaxed);
        // If the channel is full the thread is busy: it sees the flag when its current
        // batch ends (within a second).
        let _ = self.tx.try_send(Msg::Wake);
    }

    /// Writes what is queued, flushes and ends the thread, waiting at most `within`.
    pub fn finish(self, within: Duration) {
        self.control.stop.store(true, Relaxed);
        let _ = self.tx.try_send(Msg::Wake);
        let until = Instant::now() + within;
        while !self.thread.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

enum Output {
    Stdout(BufWriter<std::io::Stdout>),
    File { path: PathBuf, w: BufWriter<File> },
}

impl Output {
    fn open(target: &AccessLogTarget) -> Result<Output, String> {
        match target {
            AccessLogTarget::Stdout => Ok(Output::Stdout(BufWriter::new(std::io::stdout()))),
            AccessLogTarget::File(path) => match open_file(path) {
                Ok(f) => Ok(Output::File { path: path.clone(), w: BufWriter::new(f) }),
                Err(e) => Err(format!(
                    "cannot open --access-log {}: {e}; create its directory and make it writable by this user, \
                     or use --access-log - for stdout",
                    path.display()
                )),
            },
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(w) => w,
            Output::File { w, .. } => w,
        }
    }

    /// Reopens the file at its path (a new one if logrotate moved the old away).
    fn reopen(&mut self) {
        let Output::File { path, w } = self else { return };
        let _ = w.flush();
        match open_file(path) {
            Ok(f) => *w = BufWriter::new(f),
            Err(e) => {
                warn!("access log: cannot reopen {}: {e}; still writing to the old file", path.display())
            }
        }
    }
}

/// Appends (several processes or a rotation may share the file), creating it readable
/// by its owner and group only: it names clients and paths.
fn open_file(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().append(true).create(true).mode(0o640).open(path)
}

/// The logger thread: formats and writes records until told to stop.
fn run(rx: Receiver<Msg>, mut out: Output, control: &Control) {
    let mut line = Vec::with_capacity(512);
    let mut last_flush = Instant::now();
    let mut failing = false;
    loop {
        let mut next = match rx.recv_timeout(FLUSH_EVERY) {
            Ok(msg) => Some(msg),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // What is already queued is written before the flush: one write(2) per burst,
        // and at least one a second under a steady stream.
        while let Some(msg) = next.take() {
            if let Msg::Record(record) = msg {
                write_line(&mut out, &mut line, &record, &mut failing);
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                break;
            }
            next = rx.try_recv().ok();
        }
        report(out.writer().flush(), &mut failing);
        last_flush = Instant::now();
        if control.reopen.swap(false, Relaxed) {
            out.reopen();
        }
        if control.stop.load(Relaxed) {
            while let Ok(msg) = rx.try_recv() {
                if let Msg::Record(record) = msg {
                    write_line(&mut out, &mut line, &record, &mut failing);
                }
            }
            break;
        }
    }
    report(out.writer().flush(), &mut failing);
}

fn write_line(out: &mut Output, line: &mut Vec<u8>, record: &Record, failing: &mut bool) {
    line.clear();
    record.write_json(line);
    report(out.writer().write_all(line), failing);
}

/// A failing disk is reported once, not once per line, and again after it recovered.
fn report(result: std::io::Result<()>, failing: &mut bool) {
    match result {
        Ok(()) => *failing = false,
        Err(e) if !*failing => {
            *failing = true;
            warn!("access log: cannot write: {e}; lines are lost until it recovers");
        }
        Err(_) => {}
    }
}
