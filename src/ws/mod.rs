//! ringtty's own WebSocket codec (RFC 6455), sans-IO.
//!
//! This module owns the wire format of WebSocket and nothing else: the opening
//! handshake's checks and `Sec-WebSocket-Accept` ([`accept_upgrade`]), the frame
//! header ([`FrameHeader`]), masking ([`apply_mask`]), incremental UTF-8 validation
//! ([`Utf8Validator`]), the receive-side state machine that enforces the protocol's
//! rules ([`Decoder`]), close codes ([`CloseCode`]) and the frames a server sends
//! ([`write_header_in_headroom`], [`ControlFrame`], [`encode_frame`]).
//!
//! It must never do IO, read a clock, spawn, or allocate per frame: callers own the
//! buffers and pass bytes in; the decoder unmasks in place and lends payloads back as
//! slices; headers are built in fixed arrays. Every function is total on any input
//! (no panics, no `unwrap` on parsed data), which is what lets it be tested byte by
//! byte and fuzzed (`fuzz/fuzz_targets/ws_*`, with tungstenite as the oracle).
//!
//! permessage-deflate (RFC 7692, `--compress`) is [`deflate`]: its negotiation, the
//! per-core compressor and decompressor (reset per message; the only part that
//! allocates, per compressed message, never per frame), and the assembly of a compressed
//! message; the decoder only marks such messages (`compressed`, RSV1).
//!
//! On top of the codec, [`Connection`] is a server connection's state machine, time
//! passed in: the close handshake and its timing, pings and dead peers, the send
//! queue's memory bound, when to read and when to yield. The runtime drives it.
//!
//! What it does not decide: policy (origin, auth, which subprotocol an endpoint
//! requires), and what an endpoint makes of the messages.

#![forbid(unsafe_code)]

mod close;
pub mod connection;
mod decoder;
pub mod deflate;
mod encode;
mod error;
mod frame;
mod mask;
mod outbox;
mod upgrade;
mod utf8;

pub use close::CloseCode;
pub use connection::Connection;
pub use decoder::{Decoded, Decoder, Event, MessageKind, Role};
pub use deflate::Deflate;
pub use encode::{encode_frame, ControlFrame};
pub use error::WsError;
pub use frame::{server_header_len, write_header_in_headroom, FrameHeader, HeadroomTooSmall, OpCode, Status};
pub use mask::apply_mask;
pub use upgrade::{accept_key, accept_upgrade, accept_upgrade_with, Handshake, UpgradeError};
pub use utf8::{InvalidUtf8, Utf8Validator};

#[cfg(test)]
mod tungstenite_tests;
