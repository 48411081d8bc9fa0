//! Which core owns a session, from its typed id alone: the id names its core (and,
//! with `--node-id`, its node), so no table is looked up or shared. A request for a
//! session of another core moves there (`CrossCore::Adopt`) before it is served; an id
//! naming another node, or a core that does not exist, names no session here (404).

use crate::http::Route;
use crate::runtime::worker::Worker;
use crate::session::{NodeId, SessionId};

/// Where a request is being served: this core, how many cores there are, this node.
#[derive(Clone, Copy)]
pub struct Here<'a> {
    pub core: usize,
    pub cores: usize,
    pub node: Option<&'a NodeId>,
}

impl Here<'_> {
    pub fn of(w: &Worker) -> Here<'_> {
        Here { core: w.index, cores: w.shared.inboxes.len(), node: w.node.as_ref() }
    }

    /// The session a request is about, if its path names one of this node's (its
    /// owner may be another core).
    pub fn session_id(self, route: Route<'_>) -> Option<SessionId> {
        let Route::Session(id, _) = route else { return None };
        SessionId::parse(id, self.node).ok()
    }

    /// The core that owns `session`, when it is another existing core of this node.
    pub fn owning_core(self, session: Option<SessionId>) -> Option<usize> {
        let core = session?.core();
        (core != self.core && core < self.cores).then_some(core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::SessionPart;

    #[test]
    fn a_session_of_another_core_is_routed_there_and_no_further() {
        let node = NodeId::new("n1").unwrap();
        let here = Here { core: 0, cores: 2, node: Some(&node) };
        let on = |core| SessionId::new(Some(&node), core, [7; crate::session::id::RANDOM_BYTES]).unwrap();
        assert_eq!(here.owning_core(Some(on(1))), Some(1));
        assert_eq!(here.owning_core(Some(on(0))), None, "this core's own");
        assert_eq!(here.owning_core(Some(on(5))), None, "no such core: answered here (404)");
        assert_eq!(here.owning_core(None), None);

        let id = on(1);
        let route = Route::Session(id.as_str(), SessionPart::Ws);
        assert_eq!(here.session_id(route), Some(id));
        assert_eq!(here.session_id(Route::Sessions), None);
        let other = NodeId::new("n2").unwrap();
        let elsewhere = SessionId::new(Some(&other), 1, [7; crate::session::id::RANDOM_BYTES]).unwrap();
        let route = Route::Session(elsewhere.as_str(), SessionPart::Ws);
        assert_eq!(here.session_id(route), None, "another node's session is not ours to route");
    }
}
