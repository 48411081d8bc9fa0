//! The runtime a worker thread runs: tokio's current-thread scheduler with its reactor
//! (epoll) and timers, and a `LocalSet` for the worker's tasks, which share `Rc`s and
//! are never `Send`. The io_uring operations of `--io uring` are the worker's own ring's
//! (`crate::uring`), its completion fd on this reactor.
//!
//! This is tokio-uring's runtime without tokio-uring's ring (issue 14, decided with
//! numbers in docs/PERFORMANCE.md): that ring carried one kind of operation (HTTP
//! response writes) and cost one `io_uring_enter` on every park of the loop, two per
//! echoed keystroke whether anything was queued or not; and without it `--io epoll`
//! needs no io_uring at all (a seccomp profile that blocks it is no obstacle).

use std::future::Future;

use tokio::task::LocalSet;

pub use tokio::task::spawn_local as spawn;

/// One worker's runtime.
pub struct Runtime {
    rt: tokio::runtime::Runtime,
    /// Dropped inside the runtime's context (tasks deregistering their fds need it).
    local: Option<LocalSet>,
}

impl Runtime {
    pub fn new() -> std::io::Result<Runtime> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        Ok(Runtime { rt, local: Some(LocalSet::new()) })
    }

    /// Runs `f` and the tasks it spawns ([`spawn`]) until `f` completes.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        let local = self.local.as_ref().expect("the LocalSet lives until drop");
        self.rt.block_on(local.run_until(f))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _entered = self.rt.enter();
        drop(self.local.take());
    }
}

/// Runs `f` on a runtime of its own (tests, tools).
pub fn start<F: Future>(f: F) -> F::Output {
    Runtime::new().expect("a current-thread runtime").block_on(f)
}
