//! The spawner: a few unpinned threads that start children for the workers, fed by one
//! bounded queue, answering through a oneshot each.
//!
//! Shared by all workers rather than a thread per worker: a start holds its thread for
//! about a quarter of a millisecond (open the PTY, then `clone` with `CLONE_VFORK`
//! suspends the thread until the child has exec'd — see `clone.rs` for why not fork),
//! so per-worker threads would sit idle. Measured on a 2-CPU host, 200 concurrent starts
//! of `true` (release): 1 thread 100–270 ms, 2 threads 78–85 ms, 4 threads 75–79 ms —
//! hence 2 by default.
//! The queue bounds how many starts can wait: beyond it a request fails at once with
//! `Busy` instead of queueing behind a storm.

use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::child::Reap;
use super::spawn::{spawn_blocking, ChildDefaults, SpawnError, SpawnRequest, Spawned};

/// How a [`Spawner`] is set up.
#[derive(Debug, Clone)]
pub struct SpawnerConfig {
    /// Threads starting children (see the module docs: 2 is plenty).
    pub threads: NonZeroUsize,
    /// Requests that may wait for a thread; more are refused with [`SpawnError::Busy`].
    pub queue: usize,
    /// What every child gets instead of the server's limits, affinity and signals.
    pub defaults: ChildDefaults,
}

impl SpawnerConfig {
    /// Two threads, a queue of 64, and the given defaults.
    pub fn new(defaults: ChildDefaults) -> Self {
        SpawnerConfig { threads: NonZeroUsize::new(2).expect("2 > 0"), queue: 64, defaults }
    }
}

type Reply = oneshot::Sender<Result<Spawned, SpawnError>>;

struct Job {
    req: SpawnRequest,
    reply: Reply,
}

/// A handle to the spawner threads; cheap to clone, one per worker. A spawner thread
/// stops once every handle is dropped and every [`super::Child`] it started is gone (a
/// child's parent-death signal fires when the thread that started it ends); the reaper
/// thread once, in addition, every child is collected.
#[derive(Clone)]
pub struct Spawner {
    jobs: mpsc::SyncSender<Job>,
    defaults: Arc<ChildDefaults>,
    reaper: mpsc::Sender<Reap>,
}

impl Spawner {
    /// Starts the spawner threads and the reaper thread. They run with
    /// `defaults.cpus` as their affinity, whichever thread calls this.
    pub fn new(cfg: SpawnerConfig) -> io::Result<Spawner> {
        let defaults = Arc::new(cfg.defaults);
        let reaper = super::child::start_reaper(defaults.cpus)?;
        let (jobs, rx) = mpsc::sync_channel::<Job>(cfg.queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..cfg.threads.get() {
            let (rx, defaults, reaper) = (rx.clone(), defaults.clone(), reaper.clone());
            std::thread::Builder::new()
                .name(format!("pty-spawner-{i}"))
                .spawn(move || serve(&rx, &defaults, &reaper))?;
        }
        Ok(Spawner { jobs, defaults, reaper })
    }

    /// Starts `req` on a spawner thread; the future resolves when the child has exec'd
    /// (or failed to). The request is queued by this call, not on the first poll; never
    /// blocks. Dropping the future abandons the request: a child started anyway is
    /// killed and reaped.
    pub fn spawn(&self, req: SpawnRequest) -> impl Future<Output = Result<Spawned, SpawnError>> + 'static {
        let (reply, answer) = oneshot::channel();
        let queued = self.jobs.try_send(Job { req, reply }).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => SpawnError::Busy,
            mpsc::TrySendError::Disconnected(_) => SpawnError::Stopped,
        });
        async move {
            queued?;
            answer.await.map_err(|_| SpawnError::Stopped)?
        }
    }

    /// Starts `req` on the calling thread, blocking it until the child has exec'd. For
    /// tests, tools and startup; never on a worker. The child is SIGKILLed when the
    /// calling thread ends.
    pub fn spawn_blocking(&self, req: &SpawnRequest) -> Result<Spawned, SpawnError> {
        spawn_blocking(req, &self.defaults, &self.reaper, None)
    }

    /// A child another ringtty process started and handed over (a live upgrade), by
    /// its pid and a pidfd for it; see [`Child::adopt`](super::Child).
    pub fn adopt(&self, pid: rustix::process::Pid, pidfd: std::os::fd::OwnedFd) -> super::Child {
        super::Child::adopt(pid, pidfd, self.reaper.clone())
    }

    /// Waits (up to `within`) until the reaper thread has done what was asked of it so
    /// far: the signals to every process of the sessions that ended. Before the process
    /// exits, or those processes may outlive it.
    pub fn flush(&self, within: std::time::Duration) {
        let (done, finished) = mpsc::sync_channel(1);
        if self.reaper.send(Reap::Flush(done)).is_ok() {
            let _ = finished.recv_timeout(within);
        }
    }
}

/// One spawner thread: takes jobs until every `Spawner` handle is gone, then lives on
/// until every child it started is gone (see [`Spawner`]).
fn serve(jobs: &Mutex<mpsc::Receiver<Job>>, defaults: &Arc<ChildDefaults>, reaper: &mpsc::Sender<Reap>) {
    let _ = rustix::thread::sched_setaffinity(None, &defaults.cpus);
    // Each child holds a clone; nothing is ever sent.
    let (alive, children_gone) = mpsc::channel::<()>();
    take_jobs(jobs, defaults, reaper, &alive);
    drop(alive);
    let _ = children_gone.recv();
}

fn take_jobs(
    jobs: &Mutex<mpsc::Receiver<Job>>,
    defaults: &Arc<ChildDefaults>,
    reaper: &mpsc::Sender<Reap>,
    alive: &mpsc::Sender<()>,
) {
    loop {
        // Nothing panics while the lock is held, but a poisoned lock is still usable.
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        if job.reply.is_closed() {
            continue; // the requester gave up while the job was queued
        }
        // If the requester gave up meanwhile, `send` hands the result back and dropping
        // it kills and reaps the child (see `Child`'s drop).
        let _ = job.reply.send(spawn_blocking(&job.req, defaults, reaper, Some(alive)));
    }
}
