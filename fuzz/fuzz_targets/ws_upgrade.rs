//! The upgrade check on arbitrary header lists: no panic; the same answer twice; an
//! accepted handshake's `Sec-WebSocket-Accept` equals tungstenite's for the same key,
//! its subprotocol is one of ours that the client offered, and its response head is
//! well-formed; a refusal has one of the three statuses.
//!
//! Input: first line the method, then `name:value` lines.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::ws::{accept_key, accept_upgrade};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let method = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let headers: Vec<(String, &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).into_owned();
            Some((name, &line[colon + 1..]))
        })
        .collect();
    let protocols: &[&str] = match data.len() % 3 {
        0 => &[],
        1 => &["tty"],
        _ => &["ringtty.v1", "tty"],
    };
    let pairs = || headers.iter().map(|(n, v)| (n.as_str(), *v));
    let result = accept_upgrade(&method, pairs(), protocols);
    assert_eq!(result, accept_upgrade(&method, pairs(), protocols));

    let handshake = match result {
        Ok(handshake) => handshake,
        Err(error) => {
            assert!(matches!(error.status(), 400 | 405 | 426));
            return;
        }
    };
    assert_eq!(method, "GET");
    let named = |name: &'static str| {
        headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    };
    let key = named("sec-websocket-key").next().expect("accepted without a key");
    let key = trim(key);
    assert_eq!(&accept_key(key), handshake.accept().as_bytes());
    let theirs = tungstenite::handshake::derive_accept_key(key);
    assert_eq!(handshake.accept(), theirs);

    if let Some(protocol) = handshake.protocol() {
        assert!(protocols.contains(&protocol));
        let offered = named("sec-websocket-protocol")
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| trim(t) == protocol.as_bytes());
        assert!(offered, "chose a protocol the client did not offer");
    }
    let mut head = Vec::new();
    handshake.write_response(&mut head);
    assert!(head.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(head.ends_with(b"\r\n\r\n"));
    assert_eq!(head.windows(4).filter(|w| w == b"\r\n\r\n").count(), 1);
});

fn trim(v: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &v[start..end]
}
