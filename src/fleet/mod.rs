//! The fleet, pure: what nodes say to each other over NATS (subjects and JSON bodies),
//! what a worker asks the fleet's control thread ([`Ask`]), and the bookkeeping both
//! sides keep — the revoked tokens ([`Revocations`]), the nodes heard from
//! ([`Peers`]) and a scatter-gather's answers ([`Gather`]). No IO and no clock: times
//! come in. The control thread that speaks NATS is `runtime::fleet`.
//!
//! A session's PTY lives on one node, so the fleet never moves sessions: requests for
//! a session are routed to its node by the id's `NODE.` prefix (HAProxy, docs/FLEET.md),
//! and NATS carries only what concerns the whole fleet: listing, the kill switch,
//! revocation, liveness, and a session call that reached the wrong node.
#![forbid(unsafe_code)]

mod peers;
mod revoke;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub use peers::{Gather, Peer, Peers};
pub use revoke::{Revocation, Revocations};

use crate::auth::{Mode, Principal, Via};

/// Every subject starts with this; a NATS account shared with other software keeps
/// ringtty's traffic apart by it.
pub const PREFIX: &str = "ringtty";

/// The subjects, each with what its body is.
pub mod subject {
    /// [`super::Heartbeat`], published by every node once per [`super::HEARTBEAT`].
    pub const HEARTBEAT: &str = "ringtty.heartbeat";
    /// [`super::ListAsk`] → one [`super::ListAnswer`] per node (scatter-gather).
    pub const LIST: &str = "ringtty.list";
    /// [`super::KillAsk`] → one [`super::KillAnswer`] per node.
    pub const KILL: &str = "ringtty.kill";
    /// [`super::RevokeNote`] → one [`super::Ack`] per node; also published by a node
    /// that (re)connects, with every revocation it holds.
    pub const REVOKE: &str = "ringtty.revoke";
    /// Empty → one [`super::RevokeNote`] per node: a node that (re)connects learns what
    /// was revoked while it was away.
    pub const REVOCATIONS: &str = "ringtty.revocations";

    /// [`super::SessionAsk`] → [`super::SessionAnswer`], to the one node that owns it.
    pub fn session(node: &str) -> String {
        format!("ringtty.node.{node}.session")
    }
}

/// How often a node says it is alive, with its load.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);
/// A node not heard from for this long has left the fleet (its sessions are gone from
/// the fleet's list at once, since it does not answer; it stops being named as missing
/// after this).
pub const PEER_EXPIRY: std::time::Duration = std::time::Duration::from_secs(3);

/// A node's heartbeat: who it is, where clients reach it, and its load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: String,
    /// `--advertise-url` (or the bound address): where its sessions are served.
    pub url: Option<String>,
    pub version: String,
    /// Sessions starting or running.
    pub sessions: u64,
    /// WebSocket clients attached.
    pub clients: u64,
    /// CPU used by the whole process over the last interval, in percent of one CPU.
    pub cpu: f64,
    /// It takes no new sessions (drain).
    pub draining: bool,
    pub workers: usize,
    pub uptime_secs: u64,
}

/// Who asks, as the asking node admitted them: the fleet's nodes trust each other (NATS
/// is the fleet's private bus: docs/FLEET.md, docs/SECURITY.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePrincipal {
    pub user: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub rw: bool,
    /// With `--no-auth` on the asking node: everyone is everything.
    #[serde(default)]
    pub anyone: bool,
}

impl WirePrincipal {
    pub fn of(p: &Principal) -> WirePrincipal {
        WirePrincipal {
            user: p.user.to_string(),
            admin: p.admin,
            session: p.session.clone(),
            rw: p.may_write(),
            anyone: p.via == Via::NoAuth,
        }
    }

    /// The principal a node acts for when another node asks: the same reach, never more.
    pub fn principal(&self) -> Principal {
        if self.anyone {
            return Principal::anyone();
        }
        Principal {
            user: self.user.as_str().into(),
            mode: if self.rw { Mode::Rw } else { Mode::Ro },
            admin: self.admin,
            session: self.session.clone(),
            via: Via::Fleet,
            exp: None,
            jti: None,
        }
    }
}

/// `GET /api/sessions?scope=fleet`, asked of every other node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListAsk {
    pub from: String,
    pub principal: WirePrincipal,
    /// The page's `offset + limit`: the most sessions of any one node the page can
    /// hold, so no node sends more (its newest first, as the page is sorted).
    pub take: usize,
}

/// One node's part of a fleet list: its first `take` sessions (newest first) that the
/// principal reaches, described as its own list does, and how many it has in all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListAnswer {
    pub node: String,
    pub sessions: Vec<serde_json::Value>,
    pub total: usize,
    /// Fewer than `take` were sent to fit the bus's largest message (`max_payload`):
    /// the page may miss some of this node's.
    #[serde(default)]
    pub truncated: bool,
}

/// Sorts session descriptions as every list is: newest first (by `created_ms`, or
/// `created` from a node that does not send it), then by id.
pub fn sort_sessions(sessions: &mut [serde_json::Value]) {
    fn key(v: &serde_json::Value) -> (u64, Option<&str>) {
        let ms = v["created_ms"].as_u64().or_else(|| v["created"].as_u64().map(|s| s.saturating_mul(1000)));
        (ms.unwrap_or(0), v["id"].as_str())
    }
    sessions.sort_by(|a, b| key(b).cmp(&key(a)));
}

/// What a kill switch ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillTarget {
    /// Every session this user owns.
    User(String),
    /// Every session.
    All,
}

/// The kill switch, to every node. Only sessions created before `at` are ended: a
/// message held up by a reconnect never kills a session started after the call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KillAsk {
    pub from: String,
    pub target: KillTarget,
    /// Milliseconds since the epoch.
    pub at_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KillAnswer {
    pub node: String,
    /// Sessions whose termination started.
    pub killed: usize,
}

/// Revocations, to every node (or a node's whole set, after a reconnect).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeNote {
    pub node: String,
    pub entries: Vec<Revocation>,
}

/// "Done", from a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ack {
    pub node: String,
}

/// A call on one session, reaching its node over the bus because it arrived elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOp {
    /// `GET /api/sessions/{id}`.
    Describe,
    /// `DELETE /api/sessions/{id}`.
    Terminate,
    /// `PATCH /api/sessions/{id}` (name, keep), with the request's body.
    Update,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionAsk {
    pub op: SessionOp,
    pub id: String,
    pub principal: WirePrincipal,
    /// The request's body (`Update`), as the owner will parse it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The owner's answer, as it would have answered the call itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionAnswer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// What the fleet answered a scatter-gather: each node's part, the nodes that did not
/// answer in time, and whether the answer is whole. `partial` is true when a node known
/// to the fleet did not answer, or when the bus is down (then only this node's part is
/// there and `missing` names every node last heard from).
#[derive(Debug)]
pub struct Gathered<T> {
    pub parts: Vec<(String, T)>,
    pub missing: Vec<String>,
    pub partial: bool,
}

/// What a worker asks the fleet's control thread. The worker awaits the answer on its
/// own loop (never blocking it); the control thread gives up at `--fleet-timeout`.
pub enum Ask {
    /// Every other node's first `take` sessions that `principal` reaches.
    List { principal: WirePrincipal, take: usize, reply: oneshot::Sender<Gathered<ListAnswer>> },
    /// A call on a session of another node.
    Session { node: String, ask: SessionAsk, reply: oneshot::Sender<SessionAnswer> },
    /// The kill switch on every other node.
    Kill { target: KillTarget, at_ms: u64, reply: oneshot::Sender<Gathered<usize>> },
    /// A revocation, to every other node.
    Revoke { entry: Revocation, reply: oneshot::Sender<Gathered<()>> },
}
