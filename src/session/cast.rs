//! The asciicast v2 encoder (asciinema's recording format): a header line, then one
//! JSON array per event, each on its own line. Pure: it turns a session's output and
//! resizes into bytes; writing them is the runtime's (`runtime::record`).
//!
//! ```text
//! {"version":2,"width":80,"height":24,"timestamp":1765148400,"env":{"TERM":"xterm-256color"}}
//! [0.012,"o","$ "]
//! [1.500,"r","100x30"]
//! [2.040,"m","recording truncated: --record-max reached"]
//! ```
//!
//! - **Output is bytes, events are text.** A UTF-8 sequence split across two PTY reads
//!   is carried over to the next output event, never written as two U+FFFD halves;
//!   bytes that are not UTF-8 at all become U+FFFD, as in a terminal. What is carried
//!   when the recording ends is written as U+FFFD (it never completed).
//! - **Strings are escaped by `serde_json`**: control characters as `\u001b`, quotes and
//!   backslashes escaped; the output is one line per event.
//! - **Input is not recorded**: the encoder has no event for it (what is typed includes
//!   passwords; the terminal's echo of it is output and is recorded).
//! - **The cap.** The encoder never produces more than `max` bytes in all: an event that
//!   would pass `max - RESERVE` is replaced by a marker event (`"m"`) saying that the
//!   recording was truncated, and nothing follows it. [`Encoder::stop`] ends a recording
//!   with a marker for any other reason (a writer that fell behind, a shutdown).
#![forbid(unsafe_code)]

use std::fmt::Write as _;

/// Bytes kept free under the cap for the final marker event.
pub const RESERVE: u64 = 256;

/// The header's fields (asciicast v2): the terminal's size and the Unix time the
/// recording started, `TERM` and optionally `SHELL`, and an optional title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub width: u16,
    pub height: u16,
    pub timestamp: u64,
    pub term: String,
    pub shell: Option<String>,
    pub title: Option<String>,
}

impl Header {
    /// The header line, with its newline: `version` first, as asciinema writes it.
    pub fn line(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Env<'a> {
            #[serde(rename = "TERM")]
            term: &'a str,
            #[serde(rename = "SHELL", skip_serializing_if = "Option::is_none")]
            shell: Option<&'a str>,
        }
        #[derive(serde::Serialize)]
        struct Line<'a> {
            version: u8,
            width: u16,
            height: u16,
            timestamp: u64,
            env: Env<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            title: Option<&'a str>,
        }
        let line = Line {
            version: 2,
            width: self.width,
            height: self.height,
            timestamp: self.timestamp,
            env: Env { term: &self.term, shell: self.shell.as_deref() },
            title: self.title.as_deref(),
        };
        let mut out = serde_json::to_vec(&line).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Encoded (or held back: the start of a UTF-8 sequence waiting for its end).
    Written,
    /// It would have passed the cap: the marker was written instead; the recording
    /// has ended.
    Truncated,
    /// The recording had already ended: nothing was written.
    Ended,
}

/// One recording's encoder: the UTF-8 carry, the byte count and the cap.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The start of a UTF-8 sequence the last output ended with (at most 3 bytes).
    carry: [u8; 4],
    carry_len: usize,
    /// Bytes produced so far (with the header, and what an earlier process wrote).
    bytes: u64,
    max: u64,
    ended: bool,
}

impl Encoder {
    /// An encoder whose file already holds `bytes` (the header's, or an earlier part),
    /// capped at `max` bytes in all.
    pub fn new(bytes: u64, max: u64) -> Encoder {
        Encoder { carry: [0; 4], carry_len: 0, bytes, max, ended: false }
    }

    /// Bytes produced so far, the file's size once written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the recording has ended (truncated or stopped).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Output `data` at `t_ms` milliseconds into the recording: appends an `"o"` event
    /// to `out` (none if all of `data` is the start of a sequence still incomplete).
    pub fn output(&mut self, t_ms: u64, data: &[u8], out: &mut Vec<u8>) -> Step {
        if self.ended {
            return Step::Ended;
        }
        let mut joined: Vec<u8>;
        let bytes: &[u8] = if self.carry_len == 0 {
            data
        } else {
            joined = Vec::with_capacity(self.carry_len + data.len());
            joined.extend_from_slice(&self.carry[..self.carry_len]);
            joined.extend_from_slice(data);
            &joined[..]
        };
        let (text, rest) = decode(bytes);
        let (carry, carry_len) = (self.carry, self.carry_len);
        self.carry_len = rest.len();
        self.carry[..rest.len()].copy_from_slice(rest);
        if text.is_empty() {
            return Step::Written;
        }
        let step = self.event(t_ms, "o", &text, out);
        if step != Step::Written {
            (self.carry, self.carry_len) = (carry, carry_len);
        }
        step
    }

    /// The terminal became `cols`×`rows` at `t_ms`: an `"r"` event.
    pub fn resize(&mut self, t_ms: u64, cols: u16, rows: u16, out: &mut Vec<u8>) -> Step {
        if self.ended {
            return Step::Ended;
        }
        self.event(t_ms, "r", &format!("{cols}x{rows}"), out)
    }

    /// Ends the recording at `t_ms` with a marker event saying why (`label`), after
    /// any carried bytes (written as U+FFFD). Nothing is written after it.
    pub fn stop(&mut self, t_ms: u64, label: &str, out: &mut Vec<u8>) -> Step {
        if self.ended {
            return Step::Ended;
        }
        self.flush_carry(t_ms, out);
        if self.ended {
            return Step::Truncated;
        }
        self.ended = true;
        self.push_line(t_ms, "m", label, out);
        Step::Written
    }

    /// The end of the output (the command exited): carried bytes, never completed,
    /// are written as U+FFFD. The recording stays open for nothing else.
    pub fn finish(&mut self, t_ms: u64, out: &mut Vec<u8>) -> Step {
        if self.ended {
            return Step::Ended;
        }
        let step = self.flush_carry(t_ms, out);
        self.ended = true;
        step
    }

    fn flush_carry(&mut self, t_ms: u64, out: &mut Vec<u8>) -> Step {
        if self.carry_len == 0 {
            return Step::Written;
        }
        self.carry_len = 0;
        self.event(t_ms, "o", "\u{FFFD}", out)
    }

    /// One event, or the truncation marker if it does not fit under the cap: output
    /// that does not fit whole is recorded up to where it fits, then the marker.
    fn event(&mut self, t_ms: u64, kind: &str, data: &str, out: &mut Vec<u8>) -> Step {
        let start = out.len();
        self.push_line(t_ms, kind, data, out);
        let len = (out.len() - start) as u64;
        let limit = self.max.saturating_sub(RESERVE);
        if self.bytes <= limit {
            return Step::Written;
        }
        out.truncate(start);
        self.bytes -= len;
        self.ended = true;
        if kind == "o" {
            // What the line costs besides its data: `[t, "o", ""]\n`.
            let empty = {
                let mut line = Vec::new();
                let before = self.bytes;
                self.push_line(t_ms, kind, "", &mut line);
                self.bytes = before;
                line.len() as u64
            };
            let mut room = limit.saturating_sub(self.bytes).saturating_sub(empty);
            let mut end = 0;
            for (i, c) in data.char_indices() {
                let cost = escaped_len(c);
                if cost > room {
                    break;
                }
                room -= cost;
                end = i + c.len_utf8();
            }
            if end > 0 {
                self.push_line(t_ms, kind, &data[..end], out);
            }
        }
        let label = format!("recording truncated: --record-max ({} bytes) reached", self.max);
        self.push_line(t_ms, "m", &label, out);
        Step::Truncated
    }

    /// Appends `[t, kind, data]\n` and counts it.
    fn push_line(&mut self, t_ms: u64, kind: &str, data: &str, out: &mut Vec<u8>) {
        let start = out.len();
        let mut head = String::with_capacity(24);
        let _ = write!(head, "[{}.{:03}, \"{kind}\", ", t_ms / 1000, t_ms % 1000);
        out.extend_from_slice(head.as_bytes());
        // A `&str` always serializes.
        let _ = serde_json::to_writer(&mut *out, data);
        out.extend_from_slice(b"]\n");
        self.bytes += (out.len() - start) as u64;
    }
}

/// The length of `c` in a JSON string as `serde_json` writes it.
pub(super) fn escaped_len(c: char) -> u64 {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8() as u64,
    }
}

/// `bytes` as text: complete UTF-8 sequences as they are, invalid bytes as U+FFFD;
/// and the incomplete sequence it ends with, if any (at most 3 bytes), for the next
/// read.
pub fn decode(mut bytes: &[u8]) -> (String, &[u8]) {
    let mut text = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                text.push_str(s);
                return (text, &[]);
            }
            Err(e) => {
                let (valid, after) = bytes.split_at(e.valid_up_to());
                // `valid_up_to` bytes are UTF-8 by its contract.
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    // The input ends in the middle of a sequence: carried over.
                    None => return (text, after),
                    Some(n) => {
                        text.push('\u{FFFD}');
                        bytes = &after[n..];
                    }
                }
            }
        }
    }
}
