//! The controls that steer a session's task: kill requests and removal, from DELETE,
//! a detach timeout, the session's own timers, or the server's shutdown.

use rustix::process::Signal;

use crate::pty;
use crate::runtime::worker::{Live, Worker};
use crate::session::{Actions, Status};

/// The controls that steer a session's task (kill requests, removal), beside the
/// task itself; the rest of [`Live`] is the worker's.
impl Live {
    /// Server shutdown: the command gets the configured signal (`-s`) now.
    pub fn signal_for_shutdown(&self, w: &Worker) {
        if self.state.borrow().status() == Status::Running {
            self.terminating.set(true);
            self.kill.set(Some(pty::signal_from_raw(w.cfg.terminal.signal).unwrap_or(Signal::HUP)));
            self.wake.notify_one();
        }
    }

    /// `DELETE`: starts termination (or removes an exited session).
    pub fn terminate(&self, w: &Worker) {
        let actions = self.state.borrow_mut().kill(w.now());
        self.apply(w, actions);
        self.wake.notify_one();
    }

    pub fn apply(&self, w: &Worker, actions: Actions) {
        if actions.contains(Actions::KILL) {
            let sig = pty::signal_from_raw(w.cfg.terminal.signal).unwrap_or(Signal::HUP);
            self.kill.set(Some(sig));
            self.terminating.set(true);
        }
        if actions.contains(Actions::FORCE_KILL) {
            self.kill.set(Some(Signal::KILL));
            self.terminating.set(true);
        }
        if actions.contains(Actions::DEMOTE_DRIVER) {
            // The demoted driver is told.
            self.wake_writers();
        }
        if actions.contains(Actions::REMOVE) {
            w.remove_session(&self.id);
            self.removed.set(true);
            self.wake_writers();
            self.input_drained.notify_waiters();
        }
        self.wake.notify_one();
    }
}
