//! The asciicast v2 encoder: UTF-8 across reads, invalid bytes, escaping, resizes and
//! the cap.

use super::cast::{decode, Encoder, Header, Step, RESERVE};

/// The events of `bytes` (one JSON array a line), parsed.
fn events(bytes: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The `"o"` events' data, concatenated.
fn output(bytes: &[u8]) -> String {
    events(bytes).iter().filter(|e| e[1] == "o").map(|e| e[2].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_header_has_the_size_time_and_environment() {
    let h = Header {
        width: 80,
        height: 24,
        timestamp: 1_765_148_400,
        term: "xterm-256color".into(),
        shell: Some("/bin/bash".into()),
        title: Some("a \"title\"".into()),
    };
    let line = h.line();
    assert!(
        line.starts_with(b"{\"version\":2,\"width\":80,\"height\":24,"),
        "{}",
        String::from_utf8_lossy(&line)
    );
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"version": 2, "width": 80, "height": 24, "timestamp": 1_765_148_400u64,
            "env": {"TERM": "xterm-256color", "SHELL": "/bin/bash"}, "title": "a \"title\""})
    );
    let bare = Header { shell: None, title: None, ..h };
    let v: serde_json::Value = serde_json::from_slice(&bare.line()).unwrap();
    assert_eq!(v["env"], serde_json::json!({"TERM": "xterm-256color"}));
    assert!(v.get("title").is_none());
}

#[test]
fn output_events_carry_their_time_in_seconds() {
    let mut e = Encoder::new(0, 1 << 20);
    let mut out = Vec::new();
    assert_eq!(e.output(1234, b"hi", &mut out), Step::Written);
    assert_eq!(std::str::from_utf8(&out).unwrap(), "[1.234, \"o\", \"hi\"]\n");
    assert_eq!(e.bytes(), out.len() as u64);
    out.clear();
    e.output(5, b"x", &mut out);
    assert_eq!(std::str::from_utf8(&out).unwrap(), "[0.005, \"o\", \"x\"]\n");
}

#[test]
fn a_sequence_split_across_reads_is_carried_to_the_next_event() {
    let text = "é€😀 done";
    let bytes = text.as_bytes();
    // Every split point, and every byte on its own.
    for cut in 0..=bytes.len() {
        let mut e = Encoder::new(0, 1 << 20);
        let mut out = Vec::new();
        e.output(0, &bytes[..cut], &mut out);
        e.output(1, &bytes[cut..], &mut out);
        e.finish(2, &mut out);
        assert_eq!(output(&out), text, "cut at {cut}");
    }
    let mut e = Encoder::new(0, 1 << 20);
    let mut out = Vec::new();
    for b in bytes {
        e.output(0, std::slice::from_ref(b), &mut out);
    }
    assert_eq!(output(&out), text);
    assert!(!String::from_utf8(out).unwrap().contains('\u{FFFD}'));
}

#[test]
fn a_read_that_is_only_the_start_of_a_sequence_writes_nothing_yet() {
    let mut e = Encoder::new(0, 1 << 20);
    let mut out = Vec::new();
    assert_eq!(e.output(0, &[0xF0, 0x9F], &mut out), Step::Written);
    assert!(out.is_empty());
    e.output(0, &[0x98, 0x80], &mut out);
    assert_eq!(output(&out), "😀");
}

#[test]
fn invalid_bytes_become_replacement_characters() {
    assert_eq!(decode(b"a\xFFb"), ("a\u{FFFD}b".to_owned(), &b""[..]));
    assert_eq!(decode(b"\xC3\x28"), ("\u{FFFD}(".to_owned(), &b""[..]));
    assert_eq!(decode(b"ok\xE2\x82"), ("ok".to_owned(), &b"\xE2\x82"[..]));
    // A lone continuation byte is invalid, not carried.
    assert_eq!(decode(b"\x80"), ("\u{FFFD}".to_owned(), &b""[..]));
    let mut e = Encoder::new(0, 1 << 20);
    let mut out = Vec::new();
    e.output(0, b"x\xE2\x82", &mut out);
    // The sequence never completes: the next byte breaks it.
    e.output(1, b"y", &mut out);
    assert_eq!(output(&out), "x\u{FFFD}y");
    // A sequence still open at the end is written as U+FFFD.
    let mut out = Vec::new();
    let mut e = Encoder::new(0, 1 << 20);
    e.output(0, b"z\xE2", &mut out);
    e.finish(1, &mut out);
    assert_eq!(output(&out), "z\u{FFFD}");
}

#[test]
fn control_characters_quotes_and_backslashes_are_escaped_per_serde_json() {
    let data = "\x1b[31mred\x1b[0m \"q\" \\ \r\n\t\x07\u{0}";
    let mut e = Encoder::new(0, 1 << 20);
    let mut out = Vec::new();
    e.output(0, data.as_bytes(), &mut out);
    let line = std::str::from_utf8(&out).unwrap();
    assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
    assert!(line.contains(&serde_json::to_string(data).unwrap()), "{line}");
    assert_eq!(output(&out), data);
}

#[test]
fn resizes_are_r_events() {
    let mut e = Encoder::new(0, 1 << 20);
    let mut out = Vec::new();
    e.resize(2500, 132, 43, &mut out);
    assert_eq!(std::str::from_utf8(&out).unwrap(), "[2.500, \"r\", \"132x43\"]\n");
}

#[test]
fn the_cap_ends_the_recording_with_a_marker_and_is_never_passed() {
    let max = 4096;
    let mut e = Encoder::new(100, max);
    let mut out = Vec::new();
    let mut steps = Vec::new();
    for i in 0..1000 {
        steps.push(e.output(i, b"0123456789abcdef", &mut out));
    }
    let truncated = steps.iter().position(|s| *s == Step::Truncated).expect("truncated");
    assert!(steps[..truncated].iter().all(|s| *s == Step::Written));
    assert!(steps[truncated + 1..].iter().all(|s| *s == Step::Ended));
    assert!(e.ended());
    assert!(100 + out.len() as u64 <= max, "{} bytes", out.len());
    assert!(100 + out.len() as u64 > max - RESERVE - 64);
    assert_eq!(e.bytes(), 100 + out.len() as u64);
    let all = events(&out);
    let last = all.last().unwrap();
    assert_eq!(last[1], "m");
    assert!(last[2].as_str().unwrap().contains("--record-max (4096 bytes)"), "{last}");
    assert_eq!(all.iter().filter(|e| e[1] == "m").count(), 1);
    // Nothing after it, resizes and stops included.
    let before = out.len();
    assert_eq!(e.resize(5000, 10, 10, &mut out), Step::Ended);
    assert_eq!(e.stop(5000, "later", &mut out), Step::Ended);
    assert_eq!(out.len(), before);
}

#[test]
fn one_large_read_over_the_cap_is_recorded_up_to_the_cap_then_the_marker() {
    for data in ["a".repeat(4096), "é\x1b\"\\\n€".repeat(400)] {
        let mut e = Encoder::new(100, 1024);
        let mut out = Vec::new();
        assert_eq!(e.output(0, data.as_bytes(), &mut out), Step::Truncated);
        let all = events(&out);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1][1], "m");
        let kept = all[0][2].as_str().unwrap();
        assert!(data.starts_with(kept));
        assert!(100 + out.len() as u64 <= 1024, "{}", out.len());
        // Filled up to the reserve, less at most one escaped character.
        assert!(
            100 + out.len() as u64 - all[1].to_string().len() as u64 > 1024 - RESERVE - 8,
            "{}",
            out.len()
        );
        assert_eq!(e.bytes(), 100 + out.len() as u64);
    }
}

#[test]
fn escaped_lengths_match_serde_json() {
    for c in ['a', 'é', '€', '😀', '"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\u{0}', '\u{1b}', '\u{7f}']
    {
        let json = serde_json::to_string(&c.to_string()).unwrap();
        assert_eq!(super::cast::escaped_len(c), json.len() as u64 - 2, "{c:?}");
    }
}

#[test]
fn stop_writes_a_marker_after_carried_bytes() {
    let mut e = Encoder::new(0, 1 << 20);
    let mut out = Vec::new();
    e.output(0, b"a\xC3", &mut out);
    assert_eq!(e.stop(10, "recording stopped", &mut out), Step::Written);
    let all = events(&out);
    assert_eq!(all.len(), 3);
    assert_eq!(
        (all[1][2].as_str(), all[2][1].as_str(), all[2][2].as_str()),
        (Some("\u{FFFD}"), Some("m"), Some("recording stopped"))
    );
    assert_eq!(e.output(11, b"b", &mut out), Step::Ended);
}
