use super::*;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

type Headers = Vec<(&'static str, &'static [u8])>;

fn browser_request(extra: &[(&'static str, &'static str)]) -> Headers {
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("Host", b"server.example.com"),
        ("Upgrade", b"websocket"),
        ("Connection", b"Upgrade"),
        ("Sec-WebSocket-Key", KEY.as_bytes()),
        ("Origin", b"http://example.com"),
        ("Sec-WebSocket-Version", b"13"),
    ];
    headers.extend(extra.iter().map(|&(n, v)| (n, v.as_bytes())));
    headers
}

fn without(name: &str) -> Headers {
    browser_request(&[]).into_iter().filter(|(n, _)| !n.eq_ignore_ascii_case(name)).collect()
}

fn with(name: &'static str, value: &'static str) -> Headers {
    let mut headers = without(name);
    headers.push((name, value.as_bytes()));
    headers
}

#[test]
fn accept_key_matches_the_rfc_example() {
    // RFC 6455 §1.3.
    assert_eq!(&accept_key(KEY.as_bytes()), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let hs = accept_upgrade("GET", browser_request(&[]), &[]).unwrap();
    assert_eq!(hs.accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(hs.protocol(), None);
}

#[test]
fn response_head_is_exact() {
    let hs = accept_upgrade("GET", browser_request(&[]), &[]).unwrap();
    let mut out = b"previous".to_vec();
    hs.write_response(&mut out);
    assert_eq!(
        out,
        b"previousHTTP/1.1 101 Switching Protocols\r\n\
          Upgrade: websocket\r\n\
          Connection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    let request = browser_request(&[("Sec-WebSocket-Protocol", "chat, superchat")]);
    let hs = accept_upgrade("GET", request, &["superchat"]).unwrap();
    let mut out = Vec::new();
    hs.write_response(&mut out);
    assert!(out.ends_with(b"Sec-WebSocket-Protocol: superchat\r\n\r\n"));
}

#[test]
fn header_names_and_tokens_are_case_insensitive_and_lists_are_parsed() {
    let headers: Vec<(&str, &[u8])> = vec![
        ("UPGRADE", b"WebSocket"),
        ("connection", b"keep-alive, UPGRADE"),
        ("sec-websocket-key", b"  dGhlIHNhbXBsZSBub25jZQ== \t"),
        ("SEC-WEBSOCKET-VERSION", b" 13 "),
    ];
    let hs = accept_upgrade("GET", headers, &[]).unwrap();
    assert_eq!(hs.accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    // Tokens may be spread over repeated headers.
    let headers = with("Connection", "keep-alive");
    let mut headers = headers;
    headers.push(("Connection", b"Upgrade"));
    headers.push(("Upgrade", b"h2c, websocket"));
    assert!(accept_upgrade("GET", headers, &[]).is_ok());
}

#[test]
fn refusals_and_their_statuses() {
    let table: Vec<(&str, &str, Headers, UpgradeError, u16)> = vec![
        ("POST", "method", browser_request(&[]), UpgradeError::MethodNotAllowed, 405),
        ("get", "method case", browser_request(&[]), UpgradeError::MethodNotAllowed, 405),
        ("GET", "no upgrade", without("Upgrade"), UpgradeError::NotWebSocket, 400),
        ("GET", "upgrade h2c", with("Upgrade", "h2c"), UpgradeError::NotWebSocket, 400),
        ("GET", "upgrade websocket2", with("Upgrade", "websocket2"), UpgradeError::NotWebSocket, 400),
        ("GET", "no connection", without("Connection"), UpgradeError::ConnectionNotUpgrade, 400),
        ("GET", "connection close", with("Connection", "close"), UpgradeError::ConnectionNotUpgrade, 400),
        ("GET", "no version", without("Sec-WebSocket-Version"), UpgradeError::UnsupportedVersion, 426),
        ("GET", "version 8", with("Sec-WebSocket-Version", "8"), UpgradeError::UnsupportedVersion, 426),
        (
            "GET",
            "version 13, 8",
            with("Sec-WebSocket-Version", "13, 8"),
            UpgradeError::UnsupportedVersion,
            426,
        ),
        ("GET", "no key", without("Sec-WebSocket-Key"), UpgradeError::MissingKey, 400),
        ("GET", "empty key", with("Sec-WebSocket-Key", ""), UpgradeError::InvalidKey, 400),
        (
            "GET",
            "duplicate key",
            {
                let mut h = browser_request(&[]);
                h.push(("sec-websocket-key", KEY.as_bytes()));
                h
            },
            UpgradeError::DuplicateHeader,
            400,
        ),
        (
            "GET",
            "duplicate version",
            {
                let mut h = browser_request(&[]);
                h.push(("Sec-WebSocket-Version", b"13"));
                h
            },
            UpgradeError::DuplicateHeader,
            400,
        ),
    ];
    for (method, what, headers, error, status) in table {
        let got = accept_upgrade(method, headers, &["tty"]);
        assert_eq!(got, Err(error), "{what}");
        assert_eq!(error.status(), status, "{what}");
        assert!(!error.reason().is_empty());
    }
    assert_eq!(UpgradeError::UnsupportedVersion.response_headers()[0], ("Sec-WebSocket-Version", "13"));
    assert_eq!(UpgradeError::MethodNotAllowed.response_headers(), &[("Allow", "GET")]);
}

#[test]
fn key_validation_table() {
    let table: &[(&str, bool)] = &[
        ("dGhlIHNhbXBsZSBub25jZQ==", true),
        ("AAAAAAAAAAAAAAAAAAAAAA==", true),
        ("/////////////////////w==", true),
        ("+++++++++++++++++++++g==", true),
        // Pad bits not zero: no encoder makes this.
        ("dGhlIHNhbXBsZSBub25jZR==", false),
        ("/////////////////////x==", false),
        // Wrong lengths and paddings.
        ("dGhlIHNhbXBsZSBub25jZQ=", false),
        ("dGhlIHNhbXBsZSBub25jZQ", false),
        ("dGhlIHNhbXBsZSBub25jZQ===", false),
        ("dGhlIHNhbXBsZSBub25jZQAA", false),
        ("dGhlIHNhbXBsZSBub25j", false),
        ("dGhlIHNhbXBsZSBub25jZQ==dGhl", false),
        ("AAAAAAAAAAAAAAAAAAAAAAA=", false),
        // Characters outside the alphabet (base64url is not base64).
        ("dGhlIHNhbXBsZSBub25j-Q==", false),
        ("dGhlIHNhbXBsZSBub25j_Q==", false),
        ("dGhlIHNhbXBsZSBub25j Q==", false),
        ("dGhlIHNhbXBsZSBub25j\u{e9}==", false),
    ];
    for &(key, valid) in table {
        assert_eq!(decode_key(key.as_bytes()).is_some(), valid, "{key}");
        let got = accept_upgrade("GET", with("Sec-WebSocket-Key", key), &[]);
        assert_eq!(got.is_ok(), valid, "{key}");
    }
    assert_eq!(decode_key(KEY.as_bytes()), Some(*b"the sample nonce"));
}

#[test]
fn keys_made_by_tungstenite_are_accepted_with_the_same_accept_value() {
    for _ in 0..200 {
        let key = tungstenite::handshake::client::generate_key();
        assert!(decode_key(key.as_bytes()).is_some(), "{key}");
        let ours = accept_key(key.as_bytes());
        let theirs = tungstenite::handshake::derive_accept_key(key.as_bytes());
        assert_eq!(&ours[..], theirs.as_bytes());
    }
}

#[test]
fn subprotocol_negotiation_table() {
    let ours = ["ringtty.v1", "tty"];
    // (client headers, chosen)
    let table: &[(&[&str], Option<&str>)] = &[
        (&[], None),
        (&["chat"], None),
        (&["tty"], Some("tty")),
        (&["tty, ringtty.v1"], Some("ringtty.v1")),
        (&["tty", "ringtty.v1"], Some("ringtty.v1")),
        (&["chat,tty"], Some("tty")),
        (&["  tty  ,  "], Some("tty")),
        (&["TTY"], None),
        (&["ttyx, xtty, tt"], None),
        (&[",,,"], None),
    ];
    for &(offered, chosen) in table {
        let mut headers = browser_request(&[]);
        headers.extend(offered.iter().map(|v| ("Sec-WebSocket-Protocol", v.as_bytes())));
        let hs = accept_upgrade("GET", headers, &ours).unwrap();
        assert_eq!(hs.protocol(), chosen, "{offered:?}");
    }
    // Extensions are never negotiated.
    let headers =
        browser_request(&[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]);
    let hs = accept_upgrade("GET", headers, &ours).unwrap();
    let mut out = Vec::new();
    hs.write_response(&mut out);
    assert!(!out.windows(10).any(|w| w.eq_ignore_ascii_case(b"extensions")));
}

#[test]
fn base64_of_20_bytes_matches_known_vectors() {
    // SHA-1("") and SHA-1("abc") in base64.
    let empty = [
        0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55, 0xbf, 0xef, 0x95, 0x60, 0x18, 0x90, 0xaf,
        0xd8, 0x07, 0x09,
    ];
    assert_eq!(&base64_20(&empty), b"2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    assert_eq!(&base64_20(&[0xff; 20]), b"//////////////////////////8=");
    assert_eq!(&base64_20(&[0; 20]), b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}
