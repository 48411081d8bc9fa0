//! The dashboard's preview of a session's output (`session::preview`) and the session
//! name rule on arbitrary bytes. Invariants, not just "no crash":
//!
//! - a preview is at most `PREVIEW_CHARS` characters and a `…`, one line, with no
//!   control character and no bidirectional control (what a program could use to make
//!   the dashboard read otherwise), trimmed;
//! - so is every window a caller may give ([`in_window`], any `cut` and `last`);
//! - a name `check_name` accepts has no control character and fits 128 bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::session::label::{check_name, NAME_MAX};
use ringtty::session::preview::{in_window, preview, PREVIEW_CHARS, PREVIEW_SCAN};

fn bidi(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn check(got: &str) {
    assert!(got.chars().count() <= PREVIEW_CHARS + 1, "{got:?}");
    assert!(!got.chars().any(|c| c.is_control() || bidi(c)), "{got:?}");
    assert_eq!(got.trim(), got, "trimmed");
}

fuzz_target!(|data: &[u8]| {
    let (flags, data) = match data.split_first() {
        Some((&flags, rest)) => (flags, rest),
        None => (0, data),
    };
    let (cut, last) = (flags & 1 == 1, flags & 2 == 2);
    check(&preview(data, cut));
    let window = &data[data.len().saturating_sub(PREVIEW_SCAN)..];
    if let Some(line) = in_window(window, cut, last) {
        assert!(!line.is_empty(), "a window's line is not blank");
        check(&line);
    }
    if let Ok(name) = std::str::from_utf8(data) {
        if check_name(name).is_ok() {
            assert!(name.len() <= NAME_MAX && !name.chars().any(|c| c.is_control() || bidi(c)));
        }
    }
});
