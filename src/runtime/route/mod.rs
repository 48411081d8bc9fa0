//! Which core owns a session, from its typed id alone: the id names its core (and,
//! with `--node-id`, its node), so no table is looked up or shared. A request for a
//! session of another core moves there (`CrossCore::Adopt`) before it is served.

use crate::http::Route;
use crate::runtime::worker::Worker;
use crate::session::SessionId;

/// The core that owns the session a request is about, when it is not this one.
pub fn owning_core(w: &Worker, session: Option<SessionId>) -> Option<usize> {
    let core = session?.core();
    (core != w.index && core < w.shared.inboxes.len()).then_some(core)
}

/// The session a request is about (its owner may be another core).
pub fn session_id(w: &Worker, route: Route<'_>) -> Option<SessionId> {
    let Route::Session(id, _) = route else { return None };
    SessionId::parse(id, w.node.as_ref()).ok()
}
