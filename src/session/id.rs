//! Session IDs: URL-safe, unguessable, and routable to their owning core in O(1).
//!
//! # Format
//!
//! ```text
//!   [NODE "."] CC RRRRRRRRRRRRRRRR
//!              |  '-- 16 chars: 12 random bytes (96 bits), base64url, no padding
//!              '----- 2 chars: the owning core's index (0..4096), base64url digits
//! e.g.  AAq3Zk1b9XWvXk2mM7sUu     (core 0, no node)
//!       web-01.ABf0_Ff3u8bJ-cRcW2lD  (node "web-01", core 1)
//! ```
//!
//! - **Unguessable**: 96 bits from `ring::rand::SystemRandom` (the runtime draws
//!   them and passes them in: this module stays pure).
//! - **Routable**: the core index is the first two characters after the node
//!   prefix, so `parse` + [`SessionId::core`] is the whole routing decision, with no
//!   table to look up or share between cores. The core index is not a secret.
//! - **Node prefix** (`--node-id NAME`): NAME is 1..=32 of `[A-Za-z0-9_-]`, then a
//!   `.`, which never occurs in a NAME or in the base64url suffix. So `NAME.` is an
//!   exact prefix a load balancer can route on, and no node's prefix is a prefix of
//!   another's (`web.` vs `web-01.`).
//! - **Fixed size**: the suffix is always 18 characters, so an ID is at most 51
//!   bytes and [`SessionId`] stores its text inline (`Copy`, no heap).
//!
//! IDs of another node (or with a prefix when this node has none, or none when it
//! has one) are refused with [`IdError::WrongNode`]: a load balancer sent the
//! request to the wrong node. Any other malformation is `BadLength`/`BadChar`.
#![forbid(unsafe_code)]

use std::fmt;

#[cfg(test)]
#[path = "id_tests.rs"]
mod tests;

/// Random bytes in an ID.
pub const RANDOM_BYTES: usize = 12;
/// The most cores an ID can name (two base64url digits).
pub const MAX_CORES: usize = 64 * 64;
/// The longest `--node-id`.
pub const MAX_NODE_LEN: usize = 32;
/// Characters after the node prefix: 2 for the core, 16 for the random bytes.
const SUFFIX_LEN: usize = 2 + RANDOM_BYTES / 3 * 4;
/// The longest ID: node, `.`, suffix.
pub const MAX_ID_LEN: usize = MAX_NODE_LEN + 1 + SUFFIX_LEN;
/// Between the node name and the rest.
const SEPARATOR: u8 = b'.';

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The value of a base64url digit (RFC 4648 §5), or `None`.
const fn digit_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Why an ID or a node name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdError {
    /// A well-formed ID of another node (or node-less when we have one, or the reverse).
    WrongNode,
    /// Not the length of an ID.
    BadLength,
    /// A character outside the ID's alphabet.
    BadChar,
    /// `--node-id`: empty, longer than [`MAX_NODE_LEN`], or outside `[A-Za-z0-9_-]`.
    BadNodeName,
    /// A core index of [`MAX_CORES`] or more.
    CoreOutOfRange,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdError::WrongNode => "session ID of another node",
            IdError::BadLength => "session ID of the wrong length",
            IdError::BadChar => "session ID with an invalid character",
            IdError::BadNodeName => "--node-id must be 1 to 32 characters of A-Z a-z 0-9 _ -",
            IdError::CoreOutOfRange => "core index beyond what a session ID can name",
        })
    }
}

impl std::error::Error for IdError {}

/// A validated `--node-id`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId {
    bytes: [u8; MAX_NODE_LEN],
    /// Invariant: `1..=MAX_NODE_LEN`; `bytes[..len]` are `[A-Za-z0-9_-]`, the rest 0.
    len: u8,
}

impl NodeId {
    /// Validates a node name.
    pub fn new(name: &str) -> Result<NodeId, IdError> {
        let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        if name.is_empty() || name.len() > MAX_NODE_LEN || !name.bytes().all(ok) {
            return Err(IdError::BadNodeName);
        }
        let mut bytes = [0; MAX_NODE_LEN];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(NodeId { bytes, len: name.len() as u8 })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.bytes[..usize::from(self.len)])
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NodeId").field(&self.as_str()).finish()
    }
}

/// A session ID (see the [module docs](self) for the format). `Copy`, no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId {
    /// Invariant: `text[..len]` is a valid ID (ASCII); the rest is 0, so the derived
    /// `Eq` and `Hash` see only the ID.
    text: [u8; MAX_ID_LEN],
    len: u8,
    /// Decoded from the text once; `< MAX_CORES`.
    core: u16,
}

impl SessionId {
    /// A new ID for a session owned by `core`, from `random` bytes (draw them from
    /// `ring::rand::SystemRandom`: they are what makes the ID unguessable).
    pub fn new(node: Option<&NodeId>, core: usize, random: [u8; RANDOM_BYTES]) -> Result<SessionId, IdError> {
        if core >= MAX_CORES {
            return Err(IdError::CoreOutOfRange);
        }
        let mut text = [0; MAX_ID_LEN];
        let mut len = 0;
        if let Some(node) = node {
            let name = node.as_str().as_bytes();
            text[..name.len()].copy_from_slice(name);
            text[name.len()] = SEPARATOR;
            len = name.len() + 1;
        }
        text[len] = BASE64URL[core >> 6];
        text[len + 1] = BASE64URL[core & 63];
        len += 2;
        for group in random.chunks_exact(3) {
            let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
            for shift in [18, 12, 6, 0] {
                text[len] = BASE64URL[(n >> shift & 63) as usize];
                len += 1;
            }
        }
        Ok(SessionId { text, len: len as u8, core: core as u16 })
    }

    /// Parses an ID from a request (path segment, token claim) on a node whose
    /// `--node-id` is `our_node`. O(length); total on any input.
    /// The node a well-formed ID of another node names (for the fleet to reach it);
    /// `None` for one of ours, a node-less ID, or a malformed one.
    pub fn foreign_node<'s>(s: &'s str, our_node: Option<&NodeId>) -> Option<&'s str> {
        match SessionId::parse(s, our_node) {
            Err(IdError::WrongNode) => s.split_once(char::from(SEPARATOR)).map(|(node, _)| node),
            _ => None,
        }
    }

    pub fn parse(s: &str, our_node: Option<&NodeId>) -> Result<SessionId, IdError> {
        let bytes = s.as_bytes();
        if bytes.len() > MAX_ID_LEN {
            return Err(IdError::BadLength);
        }
        let (prefix, suffix) = match bytes.iter().position(|&c| c == SEPARATOR) {
            Some(dot) => (Some(&bytes[..dot]), &bytes[dot + 1..]),
            None => (None, bytes),
        };
        if suffix.len() != SUFFIX_LEN {
            return Err(IdError::BadLength);
        }
        if !suffix.iter().all(|&c| digit_value(c).is_some()) {
            return Err(IdError::BadChar);
        }
        if prefix.is_some_and(|p| NodeId::new(ascii_or_empty(p)).is_err()) {
            return Err(IdError::BadChar);
        }
        if prefix != our_node.map(|n| n.as_str().as_bytes()) {
            return Err(IdError::WrongNode);
        }
        let (Some(hi), Some(lo)) = (digit_value(suffix[0]), digit_value(suffix[1])) else {
            return Err(IdError::BadChar);
        };
        let mut text = [0; MAX_ID_LEN];
        text[..bytes.len()].copy_from_slice(bytes);
        let core = u16::from(hi) << 6 | u16::from(lo);
        Ok(SessionId { text, len: bytes.len() as u8, core })
    }

    /// The index of the core that owns the session: where to send the request.
    pub fn core(&self) -> usize {
        usize::from(self.core)
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.text[..usize::from(self.len)])
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionId").field(&self.as_str()).finish()
    }
}

/// `bytes` as text; they are ASCII by the callers' invariants.
fn ascii_str(bytes: &[u8]) -> &str {
    let text = std::str::from_utf8(bytes);
    debug_assert!(text.is_ok(), "IDs are ASCII");
    text.unwrap_or_default()
}

/// `bytes` as text, or "" (which no validation accepts) if they are not UTF-8.
fn ascii_or_empty(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}
