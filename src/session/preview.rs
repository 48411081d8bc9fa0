//! A one-line, plain-text preview of a session's output (the dashboard shows it): the
//! latest non-blank line in the tail of the scrollback.
//!
//! Computed on demand, never kept: a list of a thousand sessions parses at most twice
//! [`PREVIEW_SCAN`] bytes of each (windows doubling from [`FIRST_SCAN`]), and usually
//! [`FIRST_SCAN`] (a shell's prompt is its last line: 0.6 µs per session, 39 µs when
//! the last 4 KiB show nothing; docs/PERFORMANCE.md). The parser is a small terminal: escape sequences (CSI,
//! OSC, DCS, SOS, PM, APC, and the two- and three-byte ones) are dropped, a carriage
//! return moves back to the start of the line so what follows overwrites it (progress
//! bars), `CSI K` erases, cursor moves within the line are followed, and moves to
//! another row end the line (a full-screen program's last drawn row is its preview).
//! Control and invisible formatting characters (bidirectional overrides, zero-width
//! spaces) never reach the preview: a program cannot make the dashboard show text in
//! another order than it reads. Total on any bytes; bounded memory (a line keeps at
//! most [`LINE_MAX`] characters).
#![forbid(unsafe_code)]

/// The preview's longest length in characters; a longer line is cut (with `…`).
pub const PREVIEW_CHARS: usize = 120;

/// The most bytes of output a preview looks at.
pub const PREVIEW_SCAN: usize = 4 * 1024;

/// The first window looked at; it doubles up to [`PREVIEW_SCAN`] while it holds no
/// non-blank line.
pub const FIRST_SCAN: usize = 128;

/// The most characters of one line kept while parsing.
const LINE_MAX: usize = 512;

/// The preview of output ending with `tail` (at most [`PREVIEW_SCAN`] bytes are
/// used). `cut`: older output precedes `tail` (so its first line may be partial, and it
/// may begin inside an escape sequence or a character). Empty when there is no
/// non-blank line.
pub fn preview(tail: &[u8], cut: bool) -> String {
    let cut = cut || tail.len() > PREVIEW_SCAN;
    let tail = &tail[tail.len().saturating_sub(PREVIEW_SCAN)..];
    let mut window = FIRST_SCAN;
    loop {
        let whole = window >= tail.len();
        let bytes = &tail[tail.len() - window.min(tail.len())..];
        if let Some(line) = in_window(bytes, cut || !whole, whole) {
            return line;
        }
        if whole {
            return String::new();
        }
        window *= 2;
    }
}

/// The preview from one window, `bytes`, the end of the output, if it holds a non-blank
/// line. `cut`: older output precedes the window; `last`: no wider window will be looked
/// at (so a partial first line is better than nothing). For a caller that widens the
/// window itself (copying only what it looks at), as [`preview`] does.
pub fn in_window(bytes: &[u8], cut: bool, last: bool) -> Option<String> {
    // A window that does not start at the start of the output starts at a line (or an
    // escape sequence) so that it does not begin with half of one.
    let bytes = if cut { resync(bytes, last)? } else { bytes };
    latest_line(bytes)
}

/// Where parsing a window that starts mid-output begins: after its first newline, so
/// that every line parsed is whole. Without one, a wider window is needed (`None`),
/// unless this is the `last` window (nothing bigger will be tried: a partial line is
/// better than none): then at its first ESC, else after any UTF-8 continuation bytes.
fn resync(bytes: &[u8], last: bool) -> Option<&[u8]> {
    match bytes.iter().position(|&b| b == b'\n') {
        // The rest of the window holds a non-blank line, or this is the last chance.
        Some(i) if !last || latest_line(&bytes[i + 1..]).is_some() => return Some(&bytes[i + 1..]),
        None if !last => return None,
        _ => {}
    }
    if let Some(i) = bytes.iter().position(|&b| b == 0x1b) {
        return Some(&bytes[i..]);
    }
    let skip = bytes.iter().take(3).take_while(|&&b| b & 0xc0 == 0x80).count();
    Some(&bytes[skip..])
}

/// The latest non-blank line of `bytes`, trimmed and cut to [`PREVIEW_CHARS`].
fn latest_line(bytes: &[u8]) -> Option<String> {
    let mut t = Tty::default();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            t.char(c);
        }
        if !chunk.invalid().is_empty() {
            t.char(char::REPLACEMENT_CHARACTER);
        }
    }
    t.commit();
    let line = t.latest?;
    let text: String = line.iter().collect();
    let text = text.trim();
    let mut chars = text.char_indices();
    Some(match chars.nth(PREVIEW_CHARS) {
        None => text.to_owned(),
        Some((at, _)) => {
            let cut = text[..at].trim_end();
            format!("{cut}…")
        }
    })
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Ground,
    /// After ESC.
    Esc,
    /// After ESC and an intermediate byte (`ESC ( B`): one more byte ends it.
    EscIntermediate,
    /// Inside `ESC [`: the parameters (only the first number is kept).
    Csi,
    /// Inside a string (OSC, DCS, SOS, PM, APC) until BEL or ST.
    Str,
    /// ESC inside a string: `\` ends it.
    StrEsc,
}

/// The smallest terminal that tells lines apart.
#[derive(Default)]
struct Tty {
    state: State,
    line: Vec<char>,
    col: usize,
    /// The first CSI parameter (saturating), and whether one was given.
    param: Option<usize>,
    /// The CSI sequence has a private marker or a second parameter: its meaning is not
    /// one of the few followed here.
    first_done: bool,
    latest: Option<Vec<char>>,
}

impl Tty {
    fn char(&mut self, c: char) {
        match self.state {
            State::Ground => self.ground(c),
            State::Esc => self.escape(c),
            State::EscIntermediate => self.state = State::Ground,
            State::Csi => self.csi(c),
            State::Str => match c {
                '\x07' => self.state = State::Ground,
                '\x1b' => self.state = State::StrEsc,
                // CAN and SUB abort any sequence.
                '\x18' | '\x1a' => self.state = State::Ground,
                _ => {}
            },
            State::StrEsc => match c {
                '\\' => self.state = State::Ground,
                '\x1b' => {}
                _ => self.state = State::Str,
            },
        }
    }

    fn ground(&mut self, c: char) {
        match c {
            '\x1b' => self.state = State::Esc,
            '\n' | '\x0b' | '\x0c' => self.commit(),
            '\r' => self.col = 0,
            '\x08' => self.col = self.col.saturating_sub(1),
            '\t' => self.col = ((self.col / 8 + 1) * 8).min(LINE_MAX),
            c if invisible(c) => {}
            c => self.put(c),
        }
    }

    fn escape(&mut self, c: char) {
        self.state = match c {
            '[' => {
                self.param = None;
                self.first_done = false;
                State::Csi
            }
            ']' | 'P' | 'X' | '^' | '_' => State::Str,
            '\x20'..='\x2f' => State::EscIntermediate,
            // ESC E (next line), ESC D (index), ESC M (reverse index): another row.
            'E' | 'D' | 'M' => {
                self.commit();
                State::Ground
            }
            '\x1b' => State::Esc,
            '\x18' | '\x1a' => State::Ground,
            // A control in an escape sequence is executed; the sequence goes on.
            c if (c as u32) < 0x20 => {
                self.ground(c);
                State::Esc
            }
            _ => State::Ground,
        };
    }

    fn csi(&mut self, c: char) {
        match c {
            '0'..='9' if !self.first_done => {
                let digit = c as usize - '0' as usize;
                self.param =
                    Some(self.param.unwrap_or(0).saturating_mul(10).saturating_add(digit).min(1 << 20));
            }
            '\x30'..='\x3f' => self.first_done = true,
            '\x20'..='\x2f' => {}
            '\x40'..='\x7e' => {
                self.state = State::Ground;
                self.csi_final(c);
            }
            '\x1b' => self.state = State::Esc,
            '\x18' | '\x1a' => self.state = State::Ground,
            // Controls inside a sequence are executed.
            c if (c as u32) < 0x20 => self.ground(c),
            // Anything else ends the sequence, unparsed.
            _ => self.state = State::Ground,
        }
    }

    fn csi_final(&mut self, c: char) {
        let n = self.param.unwrap_or(0);
        let count = n.max(1);
        match c {
            'K' => match n {
                0 => self.line.truncate(self.col),
                1 => {
                    let end = (self.col + 1).min(self.line.len());
                    self.line[..end].fill(' ');
                }
                _ => self.line.clear(),
            },
            'G' | '`' => self.col = (count - 1).min(LINE_MAX),
            'C' | 'a' => self.col = (self.col + count).min(LINE_MAX),
            'D' => self.col = self.col.saturating_sub(count),
            'X' => {
                let end = (self.col + count).min(self.line.len());
                if self.col < end {
                    self.line[self.col..end].fill(' ');
                }
            }
            'P' if self.col < self.line.len() => {
                let end = (self.col + count).min(self.line.len());
                self.line.drain(self.col..end);
            }
            // To another row, or the screen cleared: the line ends.
            'H' | 'f' | 'A' | 'B' | 'E' | 'F' | 'd' | 'J' | 'e' => self.commit(),
            _ => {}
        }
    }

    fn put(&mut self, c: char) {
        if self.col >= LINE_MAX {
            return;
        }
        if self.col < self.line.len() {
            self.line[self.col] = c;
        } else {
            self.line.resize(self.col, ' ');
            self.line.push(c);
        }
        self.col += 1;
    }

    /// The line ends: kept as the latest if it is not blank.
    fn commit(&mut self) {
        if self.line.iter().any(|c| !c.is_whitespace()) {
            let line = std::mem::take(&mut self.line);
            if let Some(old) = self.latest.replace(line) {
                // Its allocation serves the next line.
                self.line = old;
            }
        }
        self.line.clear();
        self.col = 0;
    }
}

/// Controls, and formatting characters that would change how the preview reads without
/// showing anything: bidirectional embeddings, overrides and isolates, zero-width
/// characters, the BOM, the soft hyphen and the like.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
            | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}' | '\u{e0000}'..='\u{e0fff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bytes: &[u8]) -> String {
        preview(bytes, false)
    }

    #[test]
    fn the_latest_non_blank_line_in_plain_text() {
        assert_eq!(p(b""), "");
        assert_eq!(p(b"\r\n\r\n  \r\n"), "");
        assert_eq!(p(b"one\r\ntwo\r\n\r\n   \r\n"), "two");
        // The prompt being typed at is the latest line.
        assert_eq!(p(b"ls\r\nfile\r\n\x1b[01;32muser@host\x1b[00m:~$ "), "user@host:~$");
        assert_eq!(p(b"  indented  \n"), "indented");
    }

    #[test]
    fn escape_sequences_are_dropped() {
        // CSI (SGR, private modes), OSC (title, ended by BEL or ST), DCS, APC, charset.
        let out = b"\x1b[?2004h\x1b]0;user@host: ~\x07\x1b]2;t\x1b\\\x1bP1$r0m\x1b\\\x1b_x\x1b\\\x1b(B\x1b[1;31mred\x1b[0m text";
        assert_eq!(p(out), "red text");
        // A sequence cut off at the end of the output shows nothing of itself.
        assert_eq!(p(b"done\r\n\x1b]0;half a tit"), "done");
        assert_eq!(p(b"done\r\n\x1b[38;5;1"), "done");
    }

    #[test]
    fn carriage_return_overwrites_and_erase_line_erases() {
        assert_eq!(p(b"10%\r20%\r30%"), "30%");
        assert_eq!(p(b"downloading 100%\r\x1b[Kdone"), "done");
        assert_eq!(p(b"abcdef\rXY"), "XYcdef");
        assert_eq!(p(b"abcdef\r\x1b[3Cz\x1b[K"), "abcz");
        assert_eq!(p(b"abc\x08\x08Z"), "aZc");
        assert_eq!(p(b"a\tb"), "a       b");
        // A move to another row ends the line: a full-screen program's last drawn row.
        assert_eq!(p(b"\x1b[1;1Htop line\x1b[24;1Hstatus bar\x1b[5;1H"), "status bar");
        assert_eq!(p(b"text\x1b[2J"), "text");
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let line = "é".repeat(300);
        let got = p(line.as_bytes());
        assert_eq!(got.chars().count(), PREVIEW_CHARS + 1);
        assert!(got.ends_with('…') && got.starts_with("éé"));
        let exact = "x".repeat(PREVIEW_CHARS);
        assert_eq!(p(exact.as_bytes()), exact);
    }

    #[test]
    fn invisible_and_control_characters_never_show() {
        // A bidi override would make the dashboard show "txt.exe" as "exe.txt".
        assert_eq!(p("a\u{202e}b\u{200b}c\u{feff}d\u{7}\u{0}\u{9b}e".as_bytes()), "abcde");
        assert_eq!(p(b"bad \xff\xfe utf8"), "bad \u{fffd}\u{fffd} utf8");
    }

    #[test]
    fn a_tail_cut_mid_output_starts_at_a_line() {
        // The window starts in the middle of an escape sequence and of a character.
        let mut out = b";5;123mgarbage\r\nreal line\r\n".to_vec();
        assert_eq!(preview(&out, true), "real line");
        out = "é".as_bytes()[1..].to_vec();
        out.extend_from_slice(b"abc");
        assert_eq!(preview(&out, true), "abc");
        // The only line is the partial first one: better than nothing.
        assert_eq!(preview(b"end of a long line\r\n\r\n", true), "end of a long line");
    }

    #[test]
    fn blank_output_widens_the_window_up_to_the_scan_limit() {
        let mut out = b"the line\r\n".to_vec();
        out.extend(std::iter::repeat_n(b'\n', 3000));
        assert_eq!(p(&out), "the line");
        // Beyond PREVIEW_SCAN bytes back: not looked at.
        out.extend(std::iter::repeat_n(b'\n', PREVIEW_SCAN));
        assert_eq!(p(&out), "");
        // Windows chosen by the caller give what the whole tail gives.
        let mut out = b"first\r\n".to_vec();
        out.extend(std::iter::repeat_n(b' ', 300));
        out.extend_from_slice(b"\r\n\x1b[0m");
        assert_eq!(p(&out), "first");
        assert_eq!(in_window(&out[out.len() - 128..], true, false), None);
        assert_eq!(in_window(&out, false, true).as_deref(), Some("first"));
    }

    #[test]
    fn a_session_previews_the_end_of_its_scrollback() {
        use crate::session::tests::Fixture;
        let mut f = Fixture::native(64, 1 << 20);
        assert_eq!(f.session.preview(), "");
        f.push(b"hello\r\n");
        assert_eq!(f.session.preview(), "hello");
        for _ in 0..200 {
            f.push(b"\x1b[32mok\x1b[0m line\r\n");
        }
        // A line longer than the first windows is shown whole (cut to the limit), from
        // its start.
        let long = format!("start {}", "y".repeat(400));
        for piece in long.as_bytes().chunks(64) {
            f.push(piece);
        }
        f.push(b"\r\n\r\n");
        let got = f.session.preview();
        assert!(got.starts_with("start yyy") && got.ends_with('…'), "{got}");
        // More than 4 KiB of blank lines after the last text: nothing.
        for _ in 0..80 {
            f.push(&[b'\n'; 64]);
        }
        assert_eq!(f.session.preview(), "");
    }

    #[test]
    fn total_on_any_bytes() {
        // A deterministic pseudo-random stream with many escapes and controls.
        let mut x: u32 = 0x9e37_79b9;
        for len in [0, 1, 7, 100, 600, 5000] {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        [0x1b, b'[', b'\r', b'\n', b'K', b'9', 0x07, 0xc3, 0xa9, 0xff, b';'][x as usize % 11]
                            .wrapping_add(if x & 0x100 != 0 { (x >> 9) as u8 } else { 0 })
                    })
                    .collect();
                for cut in [false, true] {
                    let got = preview(&bytes, cut);
                    assert!(got.chars().count() <= PREVIEW_CHARS + 1);
                    assert!(!got.chars().any(invisible), "{got:?}");
                }
            }
        }
    }
}
