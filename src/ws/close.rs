//! Close status codes (RFC 6455 §7.4): the named codes ringtty sends, and the rule
//! for which codes may appear on the wire.

use std::fmt;

/// A status code that may appear in a Close frame (RFC 6455 §7.4).
///
/// A `CloseCode` built by [`CloseCode::from_wire`] is always one that §7.4 allows on
/// the wire; the named constants are the ones ringtty sends (SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled (the session's command exited).
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a type of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation (auth, an offset in the future).
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client only) the server did not negotiate a required extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: an unexpected condition on the server.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1013: try again later (overloaded; IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);

    /// The code as received, if RFC 6455 allows it in a Close frame; `None` otherwise.
    ///
    /// §7.4.2: "Status codes in the range 0-999 are not used." §7.4.1: 1004 is
    /// reserved; 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
    /// control frame by an endpoint". 1000-2999 are "reserved for definition by this
    /// protocol": only the codes defined by §7.4.1 or registered with IANA since
    /// (1012 Service Restart, 1013 Try Again Later, 1014 Bad Gateway) are valid, the
    /// rest of the range is unassigned. 3000-3999 (registered) and 4000-4999
    /// (private use) are valid; nothing at or above 5000 is defined.
    pub const fn from_wire(code: u16) -> Option<CloseCode> {
        match code {
            1000..=1003 | 1007..=1014 | 3000..=4999 => Some(CloseCode(code)),
            _ => None,
        }
    }

    /// The numeric code, as written on the wire (big-endian in the frame).
    pub const fn as_u16(self) -> u16 {
        self.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_table() {
        // (code, allowed) at every edge of every range of RFC 6455 §7.4.
        let table: &[(u16, bool)] = &[
            (0, false),
            (1, false),
            (999, false),
            (1000, true),
            (1001, true),
            (1002, true),
            (1003, true),
            (1004, false),
            (1005, false),
            (1006, false),
            (1007, true),
            (1008, true),
            (1009, true),
            (1010, true),
            (1011, true),
            (1012, true),
            (1013, true),
            (1014, true),
            (1015, false),
            (1016, false),
            (1100, false),
            (2000, false),
            (2999, false),
            (3000, true),
            (3999, true),
            (4000, true),
            (4999, true),
            (5000, false),
            (u16::MAX, false),
        ];
        for &(code, allowed) in table {
            assert_eq!(CloseCode::from_wire(code).is_some(), allowed, "code {code}");
        }
    }

    #[test]
    fn named_codes_are_all_valid_on_the_wire() {
        for code in [
            CloseCode::NORMAL,
            CloseCode::GOING_AWAY,
            CloseCode::PROTOCOL_ERROR,
            CloseCode::UNSUPPORTED_DATA,
            CloseCode::INVALID_PAYLOAD,
            CloseCode::POLICY_VIOLATION,
            CloseCode::MESSAGE_TOO_BIG,
            CloseCode::MANDATORY_EXTENSION,
            CloseCode::INTERNAL_ERROR,
            CloseCode::TRY_AGAIN_LATER,
        ] {
            assert_eq!(CloseCode::from_wire(code.as_u16()), Some(code));
        }
    }
}
