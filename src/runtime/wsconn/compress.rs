//! The worker core's permessage-deflate codec (`ws::deflate::Codec`): one compressor and
//! one decompressor per core, made on first use, reset before every message and shared
//! by every compressed connection on the core. Nothing of it belongs to a connection, so
//! an idle connection costs nothing here (docs/SECURITY.md).

use std::cell::RefCell;

use crate::ws::deflate::Codec;

thread_local! {
    static CODEC: RefCell<Codec> = const { RefCell::new(Codec::new()) };
}

/// Runs `f` with this core's codec. Never re-entered: `f` is plain computation.
pub(super) fn with_codec<R>(f: impl FnOnce(&mut Codec) -> R) -> R {
    CODEC.with_borrow_mut(f)
}
