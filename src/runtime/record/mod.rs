//! Recordings (`--record DIR`, `"record": true` with `--record-dir DIR`): each
//! recorded session's output and resizes, as asciicast v2 (`session::cast`), in
//! `DIR/<session-id>.cast`. Input is never recorded.
//!
//! # Who does what
//!
//! - **The tap** ([`CastTap`], attached where the session is made) runs on the
//!   worker's thread in the output path. It only encodes and buffers: each event is
//!   appended to its recording's pending bytes, under a mutex the writer holds only to
//!   swap the buffer out; a recording that was idle is put on the writer's queue.
//! - **The writer thread** (one per process) writes pending bytes with one `write(2)`
//!   per batch, and serves downloads' reads, so no worker ever waits on the disk.
//! - **Bounds.** Bytes waiting for the writer are bounded per recording
//!   ([`LAG_PER_RECORDING`]) and for the process ([`LAG_TOTAL`]). A recording that
//!   would pass either is truncated: its last event is a marker saying so (the marker
//!   itself is always queued), a warning is logged, and its description says
//!   `"truncated": true`. Nothing is dropped silently; the tap never blocks.
//! - **Files** are created with `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600: a path that
//!   exists (a symlink planted by a local user included) is refused, and only the
//!   server's user can read what the terminal showed. A session whose recording cannot
//!   be created does not start.
//! - **Downloads** (`GET /api/sessions/{id}/cast`) first ask the writer to write what
//!   is pending ([`Recorder::sync`]): the download holds every event before the
//!   request. Then the connection reads the file through the writer thread in chunks
//!   of [`READ_CHUNK`] ([`Recorder::read`]) and sends each before asking for the next.
//! - **A live upgrade** (`--handover`): the old process drops its taps without a
//!   marker and waits (bounded) for its writer to write what is pending; the new
//!   process reopens the file for appending and goes on ([`Recorder::reopen`]). A
//!   recording that had ended stays ended.
//! - **The end.** At the command's exit the encoder writes what it carried; the file is
//!   kept open (for downloads) until the session is removed. A tap dropped before its
//!   session's exit (a shutdown) ends the recording with a marker. At shutdown the
//!   supervisor waits for the writer to write everything queued ([`Recorder::finish`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config;
use crate::protocol::WinSize;
use crate::session::cast::{Encoder, Header, Step};
use crate::session::{ExitStatus, Millis, Tap};

/// Bytes one recording may have waiting for the writer before it is truncated.
pub const LAG_PER_RECORDING: usize = 8 << 20;
/// Bytes all recordings together may have waiting for the writer.
pub const LAG_TOTAL: usize = 64 << 20;
/// The largest read a download asks of the writer thread at once.
pub const READ_CHUNK: usize = 256 << 10;
/// How long a live upgrade waits for a recording's pending bytes to reach the disk.
const HANDOVER_WAIT: Duration = Duration::from_secs(2);

const LAGGED: &str = "recording truncated: the disk writer fell behind";
const STOPPED: &str = "recording ended: the server stopped before the session did";

/// The process's recorder: its settings, its writer thread and the recordings of the
/// sessions that are listed.
pub struct Recorder {
    cfg: config::Record,
    inner: Arc<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Inner {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Bytes waiting for the writer, all recordings together.
    pending: AtomicUsize,
    /// The recordings of listed sessions, by session id.
    sessions: Mutex<HashMap<String, Arc<Recording>>>,
}

#[derive(Default)]
struct Queue {
    /// Recordings with pending bytes.
    dirty: Vec<Arc<Recording>>,
    jobs: Vec<Job>,
    stop: bool,
}

enum Job {
    /// Write what is pending, then answer the file's size.
    Sync(Arc<Recording>, tokio::sync::oneshot::Sender<u64>),
    /// Read up to `len` bytes at `offset`.
    Read(Arc<Recording>, u64, usize, tokio::sync::oneshot::Sender<std::io::Result<Vec<u8>>>),
    /// Write what is pending, then tell a waiting thread.
    Flush(Arc<Recording>, std::sync::mpsc::SyncSender<()>),
}

/// One session's recording, shared by its tap, the writer and the API.
pub struct Recording {
    id: String,
    path: PathBuf,
    /// Used by the writer thread only (writes and reads).
    file: Mutex<File>,
    pending: Mutex<Pending>,
    /// Bytes on disk, whole events only.
    written: AtomicU64,
    truncated: AtomicBool,
    /// A write failed: nothing more is written.
    failed: AtomicBool,
    /// Handed to the next process (a live upgrade): its tap ends without a marker.
    handed_over: AtomicBool,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// On the writer's queue.
    queued: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks the directory and starts the writer thread. `Err` is a one-line startup
/// error naming the flag and the fix.
pub fn start(cfg: &config::Record) -> Result<Recorder, String> {
    check_dir(cfg)?;
    let inner = Arc::new(Inner {
        queue: Mutex::default(),
        wake: Condvar::new(),
        pending: AtomicUsize::new(0),
        sessions: Mutex::default(),
    });
    let run_inner = inner.clone();
    let thread = std::thread::Builder::new()
        .name("ringtty-record".into())
        .spawn(move || run(&run_inner))
        .map_err(|e| format!("cannot start the recording thread: {e}"))?;
    Ok(Recorder { cfg: cfg.clone(), inner, thread: Mutex::new(Some(thread)) })
}

/// The flag the directory came from, for messages.
fn flag(cfg: &config::Record) -> &'static str {
    if cfg.all {
        "--record"
    } else {
        "--record-dir"
    }
}

fn check_dir(cfg: &config::Record) -> Result<(), String> {
    let (flag, dir) = (flag(cfg), cfg.dir.display());
    let meta = std::fs::metadata(&cfg.dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{flag} {dir}: no such directory; create it (mkdir -m 700 {dir}) for the server's user")
        }
        _ => format!("{flag} {dir}: {e}; give a directory the server's user can write"),
    })?;
    if !meta.is_dir() {
        return Err(format!("{flag} {dir}: not a directory; give a directory for the recordings"));
    }
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "{flag} {dir}: writable by every user and without the sticky bit, so anyone could replace \
             recordings; chmod 700 {dir} (or o-w)"
        ));
    }
    rustix::fs::access(&cfg.dir, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK).map_err(
        |e| {
            format!(
                "{flag} {dir}: not writable by this user ({e}); chown it to the server's user or chmod u+wx"
            )
        },
    )?;
    Ok(())
}

impl Recorder {
    /// Whether a new session is recorded: every one with `--record`, else those that
    /// asked (`"record": true`).
    pub fn wants(&self, asked: bool) -> bool {
        self.cfg.all || asked
    }

    /// The recording of session `id`, if it is recorded here.
    pub fn find(&self, id: &str) -> Option<Arc<Recording>> {
        lock(&self.inner.sessions).get(id).cloned()
    }

    /// Creates `DIR/<id>.cast` (refusing one that exists, or a symlink) and returns the
    /// tap that records into it. `base_ms` is the Unix time events count from (the
    /// header's `timestamp`, in whole seconds); `title` the session's name or command.
    pub fn create(
        &self,
        id: &str,
        term: &str,
        title: Option<String>,
        base_ms: u64,
    ) -> Result<CastTap, String> {
        let path = self.cfg.dir.join(format!("{id}.cast"));
        // The client is told why, not where: the directory is the server's business.
        let file = create_file(&path).map_err(|e| {
            error!("session {id}: cannot create its recording {}: {e} ({})", path.display(), flag(&self.cfg));
            format!(
                "cannot create the session's recording: {e} ({}; the server's log has the path)",
                flag(&self.cfg)
            )
        })?;
        let header = Header {
            width: 0,
            height: 0,
            timestamp: base_ms / 1000,
            term: term.to_owned(),
            shell: None,
            title,
        };
        Ok(self.tap(id, path, file, Start::Fresh(header), base_ms / 1000 * 1000))
    }

    /// A session handed over by the previous process (`--handover`): its recording,
    /// if the file is there, is reopened for appending and goes on while the session
    /// `running`; one that had ended (its last event a marker, or its command's exit)
    /// is listed for downloads but not written. `None`: not recorded.
    pub fn reopen(&self, id: &str, created_ms: u64, running: bool) -> Option<CastTap> {
        let path = self.cfg.dir.join(format!("{id}.cast"));
        let file = match reopen_file(&path) {
            Ok(Some(f)) => f,
            Ok(None) => return None,
            Err(e) => {
                warn!("session {id}: its recording {} is not continued: {e}", path.display());
                return None;
            }
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let ended = last_is_marker(&file, size);
        let base_ms = header_timestamp(&file).map_or(created_ms / 1000 * 1000, |s| s.saturating_mul(1000));
        let tap = self.tap(id, path, file, Start::Append { size, closed: ended || !running }, base_ms);
        tap.rec.written.store(size, SeqCst);
        if ended {
            tap.rec.truncated.store(true, Relaxed);
        }
        Some(tap)
    }

    fn tap(&self, id: &str, path: PathBuf, file: File, start: Start, base_ms: u64) -> CastTap {
        let rec = Arc::new(Recording {
            id: id.to_owned(),
            path,
            file: Mutex::new(file),
            pending: Mutex::default(),
            written: AtomicU64::new(0),
            truncated: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            handed_over: AtomicBool::new(false),
        });
        lock(&self.inner.sessions).insert(id.to_owned(), rec.clone());
        CastTap {
            rec,
            inner: self.inner.clone(),
            enc: Encoder::new(0, self.cfg.max),
            start: Some(start),
            base_ms,
            attached: (Millis(0), 0, Instant::now()),
            exited: false,
            max: self.cfg.max,
        }
    }

    /// Asks the writer to write `rec`'s pending bytes; answers the file's size then
    /// (whole events: the length a download sends).
    pub fn sync(&self, rec: &Arc<Recording>) -> tokio::sync::oneshot::Receiver<u64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.job(Job::Sync(rec.clone(), tx));
        rx
    }

    /// Asks the writer thread for up to `len` bytes of `rec`'s file at `offset`.
    pub fn read(
        &self,
        rec: &Arc<Recording>,
        offset: u64,
        len: usize,
    ) -> tokio::sync::oneshot::Receiver<std::io::Result<Vec<u8>>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.job(Job::Read(rec.clone(), offset, len.min(READ_CHUNK), tx));
        rx
    }

    /// A live upgrade hands session `id` to the next process: its tap (`take_tap`'s,
    /// dropped by the caller after this) ends without a marker.
    pub fn hand_over(&self, id: &str) -> Option<Arc<Recording>> {
        let rec = self.find(id)?;
        rec.handed_over.store(true, SeqCst);
        Some(rec)
    }

    /// After `hand_over` and the tap's drop: waits (at most two seconds; this runs on
    /// the worker during a live upgrade, whose window it is part of) for the writer to
    /// write what is pending, so the next process appends after it.
    pub fn wait_written(&self, rec: &Arc<Recording>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.job(Job::Flush(rec.clone(), tx));
        if rx.recv_timeout(HANDOVER_WAIT).is_err() {
            warn!("session {}: its recording was not written in time for the next process", rec.id);
        }
    }

    /// Writes what is queued and ends the thread, waiting at most `within`.
    pub fn finish(&self, within: Duration) {
        lock(&self.inner.queue).stop = true;
        self.inner.wake.notify_one();
        let Some(thread) = lock(&self.thread).take() else { return };
        let until = Instant::now() + within;
        while !thread.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Inner {
    fn job(&self, job: Job) {
        lock(&self.queue).jobs.push(job);
        self.wake.notify_one();
    }
}

impl Recording {
    /// `{"bytes": N, "truncated": bool}` for the session's description.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "bytes": self.written.load(SeqCst),
            "truncated": self.truncated.load(Relaxed) || self.failed.load(Relaxed),
        })
    }

    /// The file's name for a download.
    pub fn file_name(&self) -> String {
        format!("{}.cast", self.id)
    }

    /// Writes the pending bytes (on the writer thread).
    fn write_pending(&self, inner: &Inner) {
        let data = {
            let mut p = lock(&self.pending);
            p.queued = false;
            std::mem::take(&mut p.bytes)
        };
        inner.pending.fetch_sub(data.len(), Relaxed);
        if data.is_empty() || self.failed.load(Relaxed) {
            return;
        }
        let mut file = lock(&self.file);
        match file.write_all(&data) {
            Ok(()) => {
                self.written.fetch_add(data.len() as u64, SeqCst);
            }
            Err(e) => {
                self.failed.store(true, Relaxed);
                error!("session {}: recording {} ends: cannot write: {e}", self.id, self.path.display());
            }
        }
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let file = lock(&self.file);
        let mut buf = vec![0; len];
        let mut got = 0;
        while got < len {
            match file.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }
}

/// The writer thread.
fn run(inner: &Inner) {
    loop {
        let (dirty, jobs, stop) = {
            let mut q = lock(&inner.queue);
            while q.dirty.is_empty() && q.jobs.is_empty() && !q.stop {
                q = inner.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            (std::mem::take(&mut q.dirty), std::mem::take(&mut q.jobs), q.stop)
        };
        let idle = dirty.is_empty() && jobs.is_empty();
        for rec in dirty {
            rec.write_pending(inner);
        }
        for job in jobs {
            match job {
                Job::Sync(rec, tx) => {
                    rec.write_pending(inner);
                    let _ = tx.send(rec.written.load(SeqCst));
                }
                Job::Read(rec, offset, len, tx) => {
                    let _ = tx.send(rec.read_at(offset, len));
                }
                Job::Flush(rec, tx) => {
                    rec.write_pending(inner);
                    let _ = tx.try_send(());
                }
            }
        }
        if stop && idle {
            return;
        }
    }
}

/// `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600, read and write (downloads read it back).
pub fn create_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// An existing recording, for appending: `None` if there is none; an error if it is
/// not a regular file of this user's with mode 0600 (a symlink is refused).
fn reopen_file(path: &Path) -> std::io::Result<Option<File>> {
    let opened = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let mine = meta.uid() == rustix::process::geteuid().as_raw();
    if !meta.is_file() || !mine || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other("not a regular file of this user's with mode 0600"));
    }
    Ok(Some(file))
}

/// The header's `timestamp` (seconds), which events count from.
fn header_timestamp(file: &File) -> Option<u64> {
    let mut head = vec![0; 4096];
    let n = file.read_at(&mut head, 0).ok()?;
    let line = head[..n].split(|&b| b == b'\n').next()?;
    serde_json::from_slice::<serde_json::Value>(line).ok()?.get("timestamp")?.as_u64()
}

/// Whether the file's last event is a marker (the recording had ended).
fn last_is_marker(file: &File, size: u64) -> bool {
    let from = size.saturating_sub(1024);
    let mut tail = vec![0; (size - from) as usize];
    if file.read_exact_at(&mut tail, from).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&tail);
    let last = text.trim_end().rsplit('\n').next().unwrap_or("");
    serde_json::from_str::<serde_json::Value>(last)
        .is_ok_and(|v| v.get(1).and_then(|k| k.as_str()) == Some("m"))
}

enum Start {
    Fresh(Header),
    /// `closed`: nothing more is written (it had ended, or its session had exited).
    Append {
        size: u64,
        closed: bool,
    },
}

/// A session's tap into its recording: encodes on the worker's thread, buffers, and
/// leaves the writing to the writer thread.
pub struct CastTap {
    rec: Arc<Recording>,
    inner: Arc<Inner>,
    enc: Encoder,
    /// How the recording starts, until the tap is attached.
    start: Option<Start>,
    /// The Unix time (ms, whole seconds) events count from.
    base_ms: u64,
    /// When it was attached: the session's clock, the Unix time, and the monotonic
    /// clock (for a drop, which is told no time).
    attached: (Millis, u64, Instant),
    exited: bool,
    max: u64,
}

impl CastTap {
    /// The session did not start after all: no marker, and the file is removed.
    pub fn abandon(self) {
        self.rec.handed_over.store(true, SeqCst);
        let _ = std::fs::remove_file(&self.rec.path);
    }

    /// Milliseconds into the recording at the session's `now`.
    fn t(&self, now: Millis) -> u64 {
        let (at, unix, _) = self.attached;
        unix.saturating_sub(self.base_ms) + now.0.saturating_sub(at.0)
    }

    /// Queues `bytes` (encoded events) for the writer; past a lag bound the recording
    /// is truncated instead, with a marker at `t`.
    fn push(&mut self, mut bytes: Vec<u8>, t: u64, step: Step) {
        if bytes.is_empty() {
            return;
        }
        let total = self.inner.pending.load(Relaxed);
        let mut p = lock(&self.rec.pending);
        if p.bytes.len() + bytes.len() > LAG_PER_RECORDING || total + bytes.len() > LAG_TOTAL {
            // Nothing more is encoded; the batch is dropped for a marker (even one that
            // held the cap's marker: the recording still ends with one).
            self.enc.stop(t, LAGGED, &mut Vec::new());
            bytes.clear();
            Encoder::new(0, u64::MAX).stop(t, LAGGED, &mut bytes);
            self.rec.truncated.store(true, Relaxed);
            warn!("session {}: recording truncated: the disk writer fell behind", self.rec.id);
        } else if step == Step::Truncated {
            self.rec.truncated.store(true, Relaxed);
            info!("session {}: recording truncated at --record-max ({} bytes)", self.rec.id, self.max);
        }
        self.inner.pending.fetch_add(bytes.len(), Relaxed);
        p.bytes.extend_from_slice(&bytes);
        if !p.queued {
            p.queued = true;
            drop(p);
            lock(&self.inner.queue).dirty.push(self.rec.clone());
            self.inner.wake.notify_one();
        }
    }
}

impl Tap for CastTap {
    fn on_attach(&mut self, _offset: u64, size: WinSize, now: Millis) {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.attached = (now, unix, Instant::now());
        match self.start.take() {
            Some(Start::Fresh(mut header)) => {
                header.width = size.cols;
                header.height = size.rows;
                let line = header.line();
                self.enc = Encoder::new(line.len() as u64, self.max);
                self.push(line, 0, Step::Written);
            }
            Some(Start::Append { size: bytes, closed }) => {
                self.enc = Encoder::new(bytes, self.max);
                if closed {
                    // Nothing more is written after its marker.
                    self.enc.finish(0, &mut Vec::new());
                }
            }
            None => {}
        }
    }

    fn on_output(&mut self, _offset: u64, bytes: &[u8], now: Millis) {
        let t = self.t(now);
        let mut out = Vec::new();
        let step = self.enc.output(t, bytes, &mut out);
        self.push(out, t, step);
    }

    fn on_resize(&mut self, size: WinSize, _offset: u64, now: Millis) {
        let t = self.t(now);
        let mut out = Vec::new();
        let step = self.enc.resize(t, size.cols, size.rows, &mut out);
        self.push(out, t, step);
    }

    fn on_exit(&mut self, _status: ExitStatus, _offset: u64, now: Millis) {
        let t = self.t(now);
        let mut out = Vec::new();
        let step = self.enc.finish(t, &mut out);
        self.exited = true;
        self.push(out, t, step);
    }
}

impl Drop for CastTap {
    fn drop(&mut self) {
        if !self.exited && !self.rec.handed_over.load(SeqCst) {
            let (at, _, instant) = self.attached;
            let elapsed = u64::try_from(instant.elapsed().as_millis()).unwrap_or(u64::MAX);
            let t = self.t(Millis(at.0.saturating_add(elapsed)));
            let mut out = Vec::new();
            if self.enc.stop(t, STOPPED, &mut out) == Step::Written {
                self.rec.truncated.store(true, Relaxed);
            }
            self.push(out, t, Step::Written);
        }
        let mut sessions = lock(&self.inner.sessions);
        if sessions.get(&self.rec.id).is_some_and(|r| Arc::ptr_eq(r, &self.rec)) {
            sessions.remove(&self.rec.id);
        }
    }
}

#[cfg(test)]
mod tests;
