//! What a session is called: the rule for its name (at create and on rename).
#![forbid(unsafe_code)]

/// The longest name, in bytes.
pub const NAME_MAX: usize = 128;

/// Why `name` is refused, if it is: longer than [`NAME_MAX`] bytes, or holding a control
/// character or a bidirectional control (which would make a list show other names, or
/// this one, in another order than they read). An empty name means "no name" and is
/// not refused here.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.len() > NAME_MAX {
        return Err("name: at most 128 bytes");
    }
    let bidi =
        |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
    if name.chars().any(|c| c.is_control() || bidi(c)) {
        return Err("name: no control characters (tabs, newlines, escapes, bidirectional controls)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_printable_text() {
        for ok in ["", "build", "logs — prod 🚀", "tab-less name", &"x".repeat(128), &"é".repeat(64)] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(check_name(&"x".repeat(129)), Err("name: at most 128 bytes"));
        assert_eq!(check_name(&"é".repeat(65)), Err("name: at most 128 bytes"));
        for bad in
            ["a\tb", "a\nb", "\x1b[31mred", "nul\0", "del\x7f", "c1\u{9b}", "rtl\u{202e}txt.exe", "\u{2066}x"]
        {
            assert!(check_name(bad).is_err_and(|e| e.contains("control")), "{bad:?}");
        }
    }
}
