//! The JSON control-message parsers of both protocols (native `ClientMsg`/`ServerMsg`,
//! ttyd's init and resize) on arbitrary bytes. Invariants, not just "no crash":
//!
//! - what parses re-encodes and parses back to the same message (native);
//! - what parses was a JSON object to `serde_json::Value` too (no message out of
//!   bytes a plain JSON reader refuses);
//! - differential: every JSON object a plain `Value` reader accepts, written back in
//!   canonical form, gets exactly the answer a slow, obviously-right reading of that
//!   `Value` predicts (message, `Malformed`, `BadSize`, `UnknownType` or `TooLong`).
//!   Canonical form, because the typed parsers refuse duplicate keys where `Value`
//!   keeps the last one: an allowed difference, and the only one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::protocol::{
    ClientMsg, ProtocolError, ServerMsg, TtydClientMsg, TtydInit, TtydSize, WinSize, MAX_CONTROL_LEN,
    MAX_DIMENSION,
};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    native_round_trip(data);
    server_round_trip(data);
    ttyd_input_is_the_rest(data);
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(data) else {
        assert!(ClientMsg::parse(data).is_err(), "a message from bytes that are not a JSON object");
        return;
    };
    let canonical = serde_json::to_vec(&object).unwrap();
    assert_eq!(ClientMsg::parse(&canonical), expected_native(&object, canonical.len()), "{object:?}");
    assert_eq!(TtydClientMsg::parse(&canonical), expected_ttyd_init(&object, canonical.len()), "{object:?}");
    let mut resize = vec![b'1'];
    resize.extend_from_slice(&canonical);
    assert_eq!(TtydClientMsg::parse(&resize), expected_ttyd_resize(&object, canonical.len()), "{object:?}");
});

fn native_round_trip(data: &[u8]) {
    let Ok(msg) = ClientMsg::parse(data) else { return };
    assert!(matches!(serde_json::from_slice::<Value>(data), Ok(Value::Object(_))));
    let mut out = Vec::new();
    msg.encode(&mut out);
    assert_eq!(ClientMsg::parse(&out), Ok(msg));
}

fn server_round_trip(data: &[u8]) {
    let Ok(msg) = ServerMsg::parse(data) else { return };
    let mut out = Vec::new();
    msg.encode(&mut out);
    assert_eq!(ServerMsg::parse(&out), Ok(msg));
}

fn ttyd_input_is_the_rest(data: &[u8]) {
    match TtydClientMsg::parse(data) {
        Ok(TtydClientMsg::Input(rest)) => assert_eq!(rest, &data[1..]),
        Ok(TtydClientMsg::Ignored) => assert!(data.first().is_none_or(|b| !b"0123{".contains(b))),
        Ok(TtydClientMsg::Resize(size)) => assert!(dims_ok(size)),
        Ok(TtydClientMsg::Init(init)) => assert!(dims_ok(init.size)),
        Ok(TtydClientMsg::Pause | TtydClientMsg::Resume) | Err(_) => {}
    }
}

fn dims_ok(size: TtydSize) -> bool {
    [size.columns, size.rows].iter().flatten().all(|&d| (1..=MAX_DIMENSION).contains(&d))
}

/// A field that serde reads as `Option<T>`: absent or null is `None`; anything else must
/// fit the type or the whole message is `Malformed`.
fn field<T>(object: &Map<String, Value>, name: &str, fit: impl Fn(&Value) -> Option<T>) -> Result<Option<T>, ProtocolError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => fit(v).map(Some).ok_or(ProtocolError::Malformed),
    }
}

fn u16_of(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|n| u16::try_from(n).ok())
}

fn expected_native(object: &Map<String, Value>, len: usize) -> Result<ClientMsg, ProtocolError> {
    if len > MAX_CONTROL_LEN {
        return Err(ProtocolError::TooLong);
    }
    let kind = match object.get("type") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(ProtocolError::Malformed),
    };
    let cols = field(object, "cols", u16_of)?;
    let rows = field(object, "rows", u16_of)?;
    let offset = field(object, "offset", Value::as_u64)?;
    match kind {
        "resize" => match (cols, rows) {
            (Some(c), Some(r)) => WinSize::new(c, r).map(ClientMsg::Resize).ok_or(ProtocolError::BadSize),
            _ => Err(ProtocolError::Malformed),
        },
        "ack" => offset.map(|offset| ClientMsg::Ack { offset }).ok_or(ProtocolError::Malformed),
        _ => Err(ProtocolError::UnknownType),
    }
}

/// ttyd's size fields: absent, null or 0 keep the current value; above the limit is
/// `BadSize` (checked after every field has been read, as serde does first).
fn expected_ttyd_size(object: &Map<String, Value>) -> Result<TtydSize, ProtocolError> {
    let columns = field(object, "columns", u16_of)?;
    let rows = field(object, "rows", u16_of)?;
    let dim = |d: Option<u16>| match d {
        None | Some(0) => Ok(None),
        Some(n) if n <= MAX_DIMENSION => Ok(Some(n)),
        Some(_) => Err(ProtocolError::BadSize),
    };
    Ok(TtydSize { columns: dim(columns)?, rows: dim(rows)? })
}

fn expected_ttyd_init(object: &Map<String, Value>, len: usize) -> Result<TtydClientMsg<'static>, ProtocolError> {
    if len > MAX_CONTROL_LEN {
        return Err(ProtocolError::TooLong);
    }
    let token = field(object, "AuthToken", |v| v.as_str().map(str::to_owned))?;
    let size = {
        // serde reads every field before the size is checked.
        expected_ttyd_size(object)?
    };
    Ok(TtydClientMsg::Init(TtydInit { auth_token: token.map(Into::into), size }))
}

fn expected_ttyd_resize(object: &Map<String, Value>, len: usize) -> Result<TtydClientMsg<'static>, ProtocolError> {
    if len > MAX_CONTROL_LEN {
        return Err(ProtocolError::TooLong);
    }
    expected_ttyd_size(object).map(TtydClientMsg::Resize)
}
