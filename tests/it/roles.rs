//! The native protocol's `role` message over real sockets (issue 11): each writable
//! client is told where in the output it becomes or stops being the driver, so that
//! only the driver's page answers terminal queries, and never in replayed output.

use std::net::TcpStream;

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use crate::sessions::{attach, create, server};

/// Reads until the next `role` message (the read timeout is the deadline); returns it
/// and the offset of the next output byte then.
fn next_role(ws: &mut WebSocket<TcpStream>, offset: &mut u64) -> Value {
    loop {
        match ws.read().expect("a role message before the deadline") {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str().unwrap() {
                    "hello" => *offset = v["offset"].as_u64().unwrap(),
                    "role" => return v,
                    _ => {}
                }
            }
            Message::Binary(b) => *offset += b.len() as u64,
            _ => {}
        }
    }
}

/// Reads output until it ends with `needle`, counting it in `offset` like `next_role`.
fn read_output_until(ws: &mut WebSocket<TcpStream>, offset: &mut u64, needle: &[u8]) {
    let mut seen = Vec::new();
    while !seen.ends_with(needle) {
        match ws.read().expect("the output before the deadline") {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "hello" {
                    *offset = v["offset"].as_u64().unwrap();
                }
            }
            Message::Binary(b) => {
                *offset += b.len() as u64;
                seen.extend_from_slice(&b);
            }
            _ => {}
        }
    }
}

fn resize(ws: &mut WebSocket<TcpStream>) {
    ws.send(Message::text(r#"{"type":"resize","cols":80,"rows":24}"#)).unwrap();
}

#[test]
fn each_writable_client_is_told_when_it_drives() {
    let server = server(&[]);
    // Output (a DA query among it) before anyone attaches: the replay.
    let id = create(&server, &["sh", "-c", "printf 'replayed\\033[c\\n'; exec cat"]);
    let (mut a_at, mut b_at) = (0, 0);
    let mut a = attach(&server, &id, "");
    // The command may not have printed yet when `a` attached: wait for all of it.
    read_output_until(&mut a, &mut a_at, b"replayed\x1b[c\r\n");
    // Asking for a size makes it the driver: from the end of the output then, which is
    // past the replay (the replay is all there is: `cat` prints nothing by itself).
    resize(&mut a);
    let told = next_role(&mut a, &mut a_at);
    let replay_end = told["offset"].as_u64().unwrap();
    assert_eq!(told, json!({"type": "role", "driver": true, "offset": replay_end}));
    assert!(replay_end >= "replayed\x1b[c\r\n".len() as u64, "{told}");
    assert!(a_at <= replay_end, "told before the output it applies to");
    // A second client of the same size takes over when it types; both hear of it at
    // the same offset.
    let mut b = attach(&server, &id, "");
    b.send(Message::binary(b"x".to_vec())).unwrap();
    let b_told = next_role(&mut b, &mut b_at);
    let a_told = next_role(&mut a, &mut a_at);
    let at = b_told["offset"].as_u64().unwrap();
    assert_eq!(b_told, json!({"type": "role", "driver": true, "offset": at}));
    assert_eq!(a_told, json!({"type": "role", "driver": false, "offset": at}));
    assert!(at >= replay_end && b_at <= at && a_at <= at);
    // A resize takes it back, even at the same size.
    resize(&mut a);
    assert_eq!(next_role(&mut a, &mut a_at)["driver"], true);
    assert_eq!(next_role(&mut b, &mut b_at)["driver"], false);
}
