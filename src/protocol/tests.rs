use std::borrow::Cow;

use super::*;
use crate::ws::{FrameHeader, Status};

fn resize(cols: u16, rows: u16) -> ClientMsg {
    ClientMsg::Resize(WinSize { cols, rows })
}

#[test]
fn native_client_table() {
    use ProtocolError::*;
    let table: &[(&str, Result<ClientMsg, ProtocolError>)] = &[
        (r#"{"type":"resize","cols":80,"rows":24}"#, Ok(resize(80, 24))),
        (r#"{"rows":24,"cols":80,"type":"resize"}"#, Ok(resize(80, 24))),
        (r#" { "type" : "resize" , "cols" : 1 , "rows" : 4096 } "#, Ok(resize(1, 4096))),
        (r#"{"type":"resiz\u0065","cols":80,"rows":24}"#, Ok(resize(80, 24))),
        (r#"{"type":"resize","cols":80,"rows":24,"extra":[1,{"x":null}]}"#, Ok(resize(80, 24))),
        (r#"{"type":"ack","offset":0}"#, Ok(ClientMsg::Ack { offset: 0 })),
        (r#"{"type":"ack","offset":18446744073709551615}"#, Ok(ClientMsg::Ack { offset: u64::MAX })),
        (r#"{"type":"ack","offset":18446744073709551616}"#, Err(Malformed)),
        (r#"{"type":"ack","offset":-1}"#, Err(Malformed)),
        (r#"{"type":"ack","offset":1.5}"#, Err(Malformed)),
        (r#"{"type":"ack","offset":"1"}"#, Err(Malformed)),
        (r#"{"type":"ack"}"#, Err(Malformed)),
        (r#"{"type":"ack","offset":null}"#, Err(Malformed)),
        (r#"{"type":"ack","offset":1,"offset":2}"#, Err(Malformed)),
        (r#"{"type":"resize","cols":0,"rows":24}"#, Err(BadSize)),
        (r#"{"type":"resize","cols":80,"rows":4097}"#, Err(BadSize)),
        (r#"{"type":"resize","cols":80,"rows":65536}"#, Err(Malformed)),
        (r#"{"type":"resize","cols":80}"#, Err(Malformed)),
        (r#"{"type":"hello"}"#, Err(UnknownType)),
        (r#"{"type":"Resize","cols":80,"rows":24}"#, Err(UnknownType)),
        (r#"{"type":""}"#, Err(UnknownType)),
        (r#"{"type":5}"#, Err(Malformed)),
        (r#"{"cols":80,"rows":24}"#, Err(Malformed)),
        (r#"{"type":"ack","offset":1} x"#, Err(Malformed)),
        (r#"{"type":"ack","offset":1"#, Err(Malformed)),
        (r#"[]"#, Err(Malformed)),
        (r#"["ack",null,null,5]"#, Err(Malformed)),
        (r#"null"#, Err(Malformed)),
        (r#""#, Err(Malformed)),
        ("\u{feff}{\"type\":\"ack\",\"offset\":1}", Err(Malformed)),
    ];
    for (input, want) in table {
        assert_eq!(ClientMsg::parse(input.as_bytes()), *want, "{input}");
    }
}

#[test]
fn native_client_size_bound_and_bytes() {
    let mut long = br#"{"type":"ack","offset":1,"pad":""#.to_vec();
    long.resize(MAX_CONTROL_LEN - 2, b' ');
    long.extend_from_slice(br#""}"#);
    assert_eq!(ClientMsg::parse(&long), Ok(ClientMsg::Ack { offset: 1 }));
    long.insert(long.len() - 2, b' ');
    assert_eq!(ClientMsg::parse(&long), Err(ProtocolError::TooLong));
    // Total on arbitrary bytes, including invalid UTF-8.
    for input in [&b"\xff\xfe"[..], b"{\"type\":\"\xff\"}", b"\0", b"{{{{", &[b'['; 4000]] {
        assert!(ClientMsg::parse(input).is_err());
    }
}

#[test]
fn close_codes() {
    assert_eq!(ProtocolError::TooLong.close_code().as_u16(), 1009);
    assert_eq!(ProtocolError::Malformed.close_code().as_u16(), 1002);
    assert_eq!(ProtocolError::BadSize.close_code().as_u16(), 1002);
    assert_eq!(ProtocolError::UnknownType.close_code().as_u16(), 1003);
}

#[test]
fn native_client_round_trip() {
    let mut out = Vec::new();
    for msg in
        [resize(1, 1), resize(4096, 4096), ClientMsg::Ack { offset: 0 }, ClientMsg::Ack { offset: u64::MAX }]
    {
        out.clear();
        msg.encode(&mut out);
        assert_eq!(ClientMsg::parse(&out), Ok(msg));
    }
}

fn server_table() -> Vec<(ServerMsg<'static>, &'static str)> {
    vec![
        (
            ServerMsg::Hello {
                id: Cow::Borrowed("n1.AAabc"),
                offset: 42,
                cols: 80,
                rows: 24,
                writable: true,
            },
            r#"{"type":"hello","id":"n1.AAabc","offset":42,"cols":80,"rows":24,"writable":true}"#,
        ),
        (ServerMsg::Resize { cols: 132, rows: 50 }, r#"{"type":"resize","cols":132,"rows":50}"#),
        (ServerMsg::Gap { from: 1, to: 1048577 }, r#"{"type":"gap","from":1,"to":1048577}"#),
        (ServerMsg::Role { driver: true, offset: 4242 }, r#"{"type":"role","driver":true,"offset":4242}"#),
        (ServerMsg::Role { driver: false, offset: 0 }, r#"{"type":"role","driver":false,"offset":0}"#),
        (ServerMsg::Exit { code: Some(0), signal: None }, r#"{"type":"exit","code":0}"#),
        (ServerMsg::Exit { code: None, signal: Some(9) }, r#"{"type":"exit","signal":9}"#),
        (
            ServerMsg::Session { name: Some(Cow::Borrowed("build \"é\"")), keep: true },
            r#"{"type":"session","name":"build \"é\"","keep":true}"#,
        ),
        (ServerMsg::Session { name: None, keep: false }, r#"{"type":"session","name":null,"keep":false}"#),
    ]
}

#[test]
fn native_server_encode_exact_and_round_trip() {
    let mut out = Vec::new();
    for (msg, json) in server_table() {
        out.clear();
        msg.encode(&mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), json);
        assert_eq!(ServerMsg::parse(&out), Ok(msg.clone()));
    }
}

/// Decodes one whole frame from `bytes`: (opcode, payload).
fn decode_frame(bytes: &[u8]) -> (crate::ws::OpCode, &[u8]) {
    let Ok(Status::Complete((header, len))) = FrameHeader::decode(bytes) else { panic!("no header") };
    assert!(header.fin && header.mask.is_none() && header.rsv == 0);
    assert_eq!(bytes.len(), len + header.payload_len as usize, "one whole frame");
    (header.opcode, &bytes[len..])
}

#[test]
fn server_frames_at_every_header_length() {
    // Text frames around the 125/126 and 65535/65536 boundaries, appended to a
    // reused Vec that already holds something (which must survive).
    let mut out = Vec::new();
    for id_len in [0, 40, 60, 61, 62, 63, 200, 65_460, 65_470, 65_480] {
        let id = "x".repeat(id_len);
        let msg = ServerMsg::Hello { id: Cow::Borrowed(&id), offset: 7, cols: 80, rows: 24, writable: false };
        let mut json = Vec::new();
        msg.encode(&mut json);
        out.clear();
        out.extend_from_slice(b"prev");
        msg.encode_frame(&mut out);
        assert_eq!(&out[..4], b"prev");
        let (opcode, payload) = decode_frame(&out[4..]);
        assert_eq!(opcode, crate::ws::OpCode::Text);
        assert_eq!(payload, &json[..], "id_len {id_len}");
    }
}

#[test]
fn native_server_parse_errors() {
    use ProtocolError::*;
    let table: &[(&str, ProtocolError)] = &[
        (r#"{"type":"hello","id":"x","offset":1,"cols":80,"rows":24}"#, Malformed),
        (r#"{"type":"exit"}"#, Malformed),
        (r#"{"type":"exit","code":0,"signal":9}"#, Malformed),
        (r#"{"type":"gap","from":1}"#, Malformed),
        (r#"{"type":"role","driver":true}"#, Malformed),
        (r#"{"type":"role","offset":5}"#, Malformed),
        (r#"{"type":"bye"}"#, UnknownType),
        (r#"{"type":"ack","offset":1}"#, UnknownType),
    ];
    for (input, want) in table {
        assert_eq!(ServerMsg::parse(input.as_bytes()), Err(*want), "{input}");
    }
}

#[test]
fn ttyd_client_table() {
    use ProtocolError::*;
    use TtydClientMsg::*;
    let size = |c, r| TtydSize { columns: c, rows: r };
    let init =
        |t: Option<&'static str>, c, r| Init(TtydInit { auth_token: t.map(Cow::Borrowed), size: size(c, r) });
    let table: &[(&[u8], Result<TtydClientMsg<'_>, ProtocolError>)] = &[
        (b"", Ok(Ignored)),
        (b"0", Ok(Input(b""))),
        (b"0ls -l\r", Ok(Input(b"ls -l\r"))),
        (b"0\xff\x00\x1b[A", Ok(Input(b"\xff\x00\x1b[A"))),
        (b"1{\"columns\":120,\"rows\":40}", Ok(Resize(size(Some(120), Some(40))))),
        (b"1{\"columns\":120}", Ok(Resize(size(Some(120), None)))),
        (b"1{\"columns\":0,\"rows\":0}", Ok(Resize(size(None, None)))),
        (b"1{}", Ok(Resize(size(None, None)))),
        (b"1{\"columns\":5000,\"rows\":1}", Err(BadSize)),
        (b"1{\"columns\":-1}", Err(Malformed)),
        (b"1{\"columns\":\"80\"}", Err(Malformed)),
        (b"1", Err(Malformed)),
        (b"1[80,24]", Err(Malformed)),
        (b"2", Ok(Pause)),
        (b"2junk", Ok(Pause)),
        (b"3", Ok(Resume)),
        (b"4", Ok(Ignored)),
        (b"\xff", Ok(Ignored)),
        (
            br#"{"AuthToken":"dXNlcjpwYXNz","columns":80,"rows":24}"#,
            Ok(init(Some("dXNlcjpwYXNz"), Some(80), Some(24))),
        ),
        (br#"{"AuthToken":"","columns":80,"rows":24}"#, Ok(init(Some(""), Some(80), Some(24)))),
        (br#"{"columns":80,"rows":24}"#, Ok(init(None, Some(80), Some(24)))),
        (br#"{}"#, Ok(init(None, None, None))),
        (br#"{"AuthToken":null}"#, Ok(init(None, None, None))),
        (br#"{"AuthToken":1}"#, Err(Malformed)),
        (br#"{"AuthToken":"a""#, Err(Malformed)),
        (b"{", Err(Malformed)),
    ];
    for (input, want) in table {
        assert_eq!(TtydClientMsg::parse(input), *want, "{:?}", String::from_utf8_lossy(input));
    }
    // An escaped token is decoded (owned); ttyd's page never escapes, but JSON may.
    let Ok(Init(init)) = TtydClientMsg::parse(br#"{"AuthToken":"a\/b"}"#) else { panic!() };
    assert_eq!(init.auth_token.as_deref(), Some("a/b"));
    // JSON bounded; input not.
    let mut big = b"1{\"columns\":80,\"rows\":24}".to_vec();
    big.resize(MAX_CONTROL_LEN + 2, b' ');
    assert_eq!(TtydClientMsg::parse(&big), Err(TooLong));
    let mut paste = vec![b'0'];
    paste.resize(1 << 20, b'x');
    assert_eq!(TtydClientMsg::parse(&paste), Ok(Input(&paste[1..])));
}

#[test]
fn ttyd_size_applies_per_dimension() {
    let now = WinSize { cols: 80, rows: 24 };
    assert_eq!(TtydSize { columns: Some(100), rows: None }.apply(now), WinSize { cols: 100, rows: 24 });
    assert_eq!(TtydSize::default().apply(now), now);
}

#[test]
fn ttyd_server_messages() {
    let mut out = Vec::new();
    TtydServerMsg::Title("bash (host)").encode(&mut out);
    assert_eq!(out, b"1bash (host)");
    out.clear();
    TtydServerMsg::Preferences(r#"{"fontSize":20}"#).encode_frame(&mut out);
    let (opcode, payload) = decode_frame(&out);
    assert_eq!(opcode, crate::ws::OpCode::Binary);
    assert_eq!(payload, br#"2{"fontSize":20}"#);
}

#[test]
fn ttyd_preferences_like_ttyd() {
    let json = ttyd::preferences_json([
        ("fontSize", "20"),
        ("disableLeaveAlert", "true"),
        ("theme", r#"{"background":"white"}"#),
        ("fontFamily", "Fira Code"),
        ("rendererType", "dom"),
        ("fontSize", "22"),
    ]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "fontSize": 22,
            "disableLeaveAlert": true,
            "theme": {"background": "white"},
            "fontFamily": "Fira Code",
            "rendererType": "dom",
        })
    );
    assert_eq!(ttyd::preferences_json([]), "{}");
}

#[test]
fn win_size_bounds() {
    assert_eq!(WinSize::new(0, 1), None);
    assert_eq!(WinSize::new(1, 0), None);
    assert_eq!(WinSize::new(MAX_DIMENSION + 1, 1), None);
    assert_eq!(WinSize::new(MAX_DIMENSION, MAX_DIMENSION), Some(WinSize { cols: 4096, rows: 4096 }));
}

#[test]
fn invalid_utf8_anywhere_is_malformed_even_in_an_ignored_field() {
    // Found by fuzz/protocol_json: serde skips an unknown field's string unread.
    let native = b"{\"type\":\"resize\",\"ce\":\"\x9besize\",\"cols\":80,\"rows\":24}";
    assert_eq!(ClientMsg::parse(native), Err(ProtocolError::Malformed));
    let init = b"{\"AuthToken\":\"\",\"x\":\"\xff\",\"columns\":80,\"rows\":24}";
    assert_eq!(TtydClientMsg::parse(init), Err(ProtocolError::Malformed));
    let mut resize = b"1".to_vec();
    resize.extend_from_slice(b"{\"columns\":80,\"rows\":24,\"y\":\"\xc3\"}");
    assert_eq!(TtydClientMsg::parse(&resize), Err(ProtocolError::Malformed));
    // Valid UTF-8 in an ignored field is fine.
    let ok = "{\"type\":\"resize\",\"note\":\"zoë\",\"cols\":80,\"rows\":24}";
    assert!(ClientMsg::parse(ok.as_bytes()).is_ok());
}
