//! The nodes a node has heard from ([`Peers`], from their heartbeats) and one
//! scatter-gather's answers against them ([`Gather`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::{Gathered, Heartbeat, PEER_EXPIRY};

/// A node heard from: its last heartbeat and when it came.
#[derive(Debug, Clone)]
pub struct Peer {
    pub beat: Heartbeat,
    pub seen: Instant,
}

/// The other nodes of the fleet, as their heartbeats tell.
#[derive(Debug, Default)]
pub struct Peers {
    nodes: BTreeMap<String, Peer>,
}

impl Peers {
    /// A heartbeat came (ours are not recorded: `me` is left out).
    pub fn heard(&mut self, beat: Heartbeat, me: &str, now: Instant) {
        if beat.node != me {
            self.nodes.insert(beat.node.clone(), Peer { beat, seen: now });
        }
    }

    /// Forgets the nodes silent for [`PEER_EXPIRY`]; returns their names.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.seen) >= PEER_EXPIRY)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &gone {
            self.nodes.remove(n);
        }
        gone
    }

    /// The nodes alive at `now`, by name.
    pub fn alive(&self, now: Instant) -> impl Iterator<Item = &Peer> {
        self.nodes.values().filter(move |p| now.saturating_duration_since(p.seen) < PEER_EXPIRY)
    }

    /// The names of the nodes alive at `now`.
    pub fn names(&self, now: Instant) -> BTreeSet<String> {
        self.alive(now).map(|p| p.beat.node.clone()).collect()
    }

    pub fn get(&self, node: &str) -> Option<&Peer> {
        self.nodes.get(node)
    }
}

/// One scatter-gather: the nodes expected to answer (those alive when it started),
/// and the answers so far. An answer from a node not expected (one that has just
/// joined) counts too; a second answer from a node is ignored.
#[derive(Debug)]
pub struct Gather<T> {
    expected: BTreeSet<String>,
    parts: BTreeMap<String, T>,
}

impl<T> Gather<T> {
    pub fn new(expected: BTreeSet<String>) -> Gather<T> {
        Gather { expected, parts: BTreeMap::new() }
    }

    /// An answer from `node`.
    pub fn answer(&mut self, node: String, part: T) {
        self.parts.entry(node).or_insert(part);
    }

    /// Every expected node has answered: the gather can end before its deadline.
    pub fn complete(&self) -> bool {
        self.expected.iter().all(|n| self.parts.contains_key(n))
    }

    /// The result, at the deadline or when complete. `reachable` is false when the bus
    /// was down: the answer is then partial whatever came.
    pub fn finish(self, reachable: bool) -> Gathered<T> {
        let missing: Vec<String> =
            self.expected.iter().filter(|n| !self.parts.contains_key(*n)).cloned().collect();
        Gathered {
            partial: !reachable || !missing.is_empty(),
            missing,
            parts: self.parts.into_iter().collect(),
        }
    }
}
