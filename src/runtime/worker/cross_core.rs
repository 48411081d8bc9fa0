//! Work handed from one core to another: the only way cores talk (SPEC §1).

use crate::runtime::transport::Parcel;

/// Work handed from one core to another (SPEC §1: cross-core work goes by message).
pub enum CrossCore {
    /// A connection whose next request is for a session this core owns: its transport,
    /// packed with its state and the bytes it has already read (starting with that
    /// request's head).
    /// `principal` is what the admission point on the first core decided for that
    /// request (`None`: an open route asked without a credential): it is not decided
    /// twice.
    Adopt { parcel: Parcel, principal: Option<crate::auth::Principal> },
    /// Describe this core's sessions that `principal` reaches, for a listing.
    List { reply: tokio::sync::oneshot::Sender<Vec<serde_json::Value>>, principal: crate::auth::Principal },
    /// Whether session `id` lives here, and its owner (for a share link).
    Owner { id: String, reply: tokio::sync::oneshot::Sender<Option<Option<String>>> },
    /// The kill switch: end this core's sessions of `target` created before `before_ms`
    /// (ms since the epoch); answers how many.
    Kill { target: crate::fleet::KillTarget, before_ms: u64, reply: tokio::sync::oneshot::Sender<usize> },
    /// A live upgrade: stop accepting, hand every session over (each one's task
    /// exports it), answer with a copy of the listener and the exports.
    Handover {
        reply: tokio::sync::oneshot::Sender<(Option<std::os::fd::OwnedFd>, Vec<super::handover::Export>)>,
    },
    /// A call on one of this core's sessions that reached another node first and came
    /// over the fleet's bus.
    Call { ask: crate::fleet::SessionAsk, reply: tokio::sync::oneshot::Sender<crate::fleet::SessionAnswer> },
}
