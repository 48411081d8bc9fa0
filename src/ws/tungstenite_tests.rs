//! Differential tests with tungstenite as the peer: what its client sends, our server
//! decoder reads; what our server encoders write, its client reads.

use std::io::{self, Cursor, Read, Write};

use tungstenite::protocol::frame::coding::{Data, OpCode as TOpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::protocol::{Role as TRole, WebSocket};
use tungstenite::{Bytes, Message};

use super::*;

/// An in-memory stream: reads from `input`, collects writes in `output`.
struct Pipe {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite(role: TRole, input: Vec<u8>) -> WebSocket<Pipe> {
    let pipe = Pipe { input: Cursor::new(input), output: Vec::new() };
    WebSocket::from_raw_socket(pipe, role, None)
}

/// An event of ours in tungstenite's terms, data chunks merged.
fn decode_all(role: Role, mut input: Vec<u8>) -> (Vec<Message>, Option<WsError>) {
    let mut decoder = Decoder::new(role, 64 << 20);
    let mut messages = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut start = 0;
    loop {
        let decoded = match decoder.decode(&mut input[start..]) {
            Ok(decoded) => decoded,
            Err(error) => return (messages, Some(error)),
        };
        start += decoded.consumed;
        let Some(event) = decoded.event else {
            return (messages, None);
        };
        match event {
            Event::Data { kind, payload, first, last, .. } => {
                if first {
                    data.clear();
                }
                data.extend_from_slice(payload);
                if last {
                    let bytes = Bytes::from(std::mem::take(&mut data));
                    messages.push(match kind {
                        MessageKind::Text => Message::Text(bytes.try_into().unwrap()),
                        MessageKind::Binary => Message::Binary(bytes),
                    });
                }
            }
            Event::Ping(p) => messages.push(Message::Ping(Bytes::copy_from_slice(p))),
            Event::Pong(p) => messages.push(Message::Pong(Bytes::copy_from_slice(p))),
            Event::Close { code, reason } => messages.push(Message::Close(
                code.map(|code| CloseFrame { code: code.as_u16().into(), reason: reason.into() }),
            )),
        }
    }
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 256) as u8).collect()
}

fn client_messages() -> Vec<Message> {
    let mut messages = vec![
        Message::text("hello"),
        Message::text(""),
        Message::binary(Vec::new()),
        Message::text("κόσμε 𝄞"),
        Message::Ping(Bytes::from_static(b"ping")),
        Message::Pong(Bytes::from_static(b"")),
        Message::Ping(Bytes::from(vec![7; 125])),
    ];
    for len in [1, 125, 126, 127, 65535, 65536, 200_000] {
        messages.push(Message::binary(sample(len)));
    }
    messages
}

#[test]
fn tungstenite_client_frames_decode_to_the_same_messages() {
    let mut client = tungstenite(TRole::Client, Vec::new());
    let messages = client_messages();
    for m in &messages {
        client.send(m.clone()).unwrap();
    }
    client
        .close(Some(tungstenite::protocol::CloseFrame { code: 4000u16.into(), reason: "done".into() }))
        .unwrap();
    let wire = std::mem::take(&mut client.get_mut().output);
    let (decoded, error) = decode_all(Role::Server, wire);
    assert_eq!(error, None);
    let mut expected = messages;
    expected.push(Message::Close(Some(CloseFrame { code: 4000u16.into(), reason: "done".into() })));
    assert_eq!(decoded, expected);
}

#[test]
fn tungstenite_fragmented_frames_decode_to_whole_messages() {
    let mut client = tungstenite(TRole::Client, Vec::new());
    let parts: [(TOpCode, bool, &[u8]); 5] = [
        (TOpCode::Data(Data::Text), false, "ab€".as_bytes().split_at(3).0),
        (TOpCode::Data(Data::Continue), false, &"€".as_bytes()[1..]),
        (TOpCode::Data(Data::Continue), false, b""),
        (TOpCode::Data(Data::Continue), true, b"cd"),
        (TOpCode::Data(Data::Binary), true, b"\x00\xff"),
    ];
    for (op, fin, payload) in parts {
        let frame = Frame::message(payload.to_vec(), op, fin);
        client.send(Message::Frame(frame)).unwrap();
        if !fin {
            client.send(Message::Ping(Bytes::from_static(b"between"))).unwrap();
        }
    }
    let wire = std::mem::take(&mut client.get_mut().output);
    let (decoded, error) = decode_all(Role::Server, wire);
    assert_eq!(error, None);
    let ping = Message::Ping(Bytes::from_static(b"between"));
    assert_eq!(
        decoded,
        vec![ping.clone(), ping.clone(), ping, Message::text("ab€cd"), Message::binary(b"\x00\xff".to_vec()),]
    );
}

#[test]
fn tungstenite_masked_frames_with_every_mask_decode() {
    for mask in [[0, 0, 0, 0], [1, 2, 3, 4], [0xff, 0xfe, 0xfd, 0xfc]] {
        for len in [0, 1, 3, 4, 5, 125, 126, 65536] {
            let payload = sample(len);
            let mut frame = Frame::message(payload.clone(), TOpCode::Data(Data::Binary), true);
            frame.header_mut().mask = Some(mask);
            let mut wire = Vec::new();
            frame.format(&mut wire).unwrap();
            let (decoded, error) = decode_all(Role::Server, wire);
            assert_eq!(error, None);
            assert_eq!(decoded, vec![Message::binary(payload)]);
        }
    }
}

#[test]
fn our_server_frames_are_read_by_the_tungstenite_client() {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    // Data framed in headroom, at every length boundary, text and binary.
    for (i, len) in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000].into_iter().enumerate() {
        let payload: Vec<u8> = if i % 2 == 0 { sample(len) } else { "x".repeat(len).into_bytes() };
        let opcode = if i % 2 == 0 { OpCode::Binary } else { OpCode::Text };
        let mut buf = vec![0u8; FrameHeader::MAX_SERVER_LEN];
        buf.extend_from_slice(&payload);
        let start = write_header_in_headroom(&mut buf, FrameHeader::MAX_SERVER_LEN, true, opcode).unwrap();
        wire.extend_from_slice(&buf[start..]);
        expected.push(match opcode {
            OpCode::Text => Message::text(String::from_utf8(payload).unwrap()),
            _ => Message::binary(payload),
        });
    }
    // A fragmented text message with a ping between, written by encode_frame.
    encode_frame(&mut wire, false, OpCode::Text, None, "frag€".as_bytes().split_at(5).0);
    wire.extend_from_slice(ControlFrame::ping(b"are you there").as_bytes());
    encode_frame(&mut wire, true, OpCode::Continuation, None, &"€".as_bytes()[1..]);
    expected.push(Message::Ping(Bytes::from_static(b"are you there")));
    expected.push(Message::text("frag€"));
    wire.extend_from_slice(ControlFrame::pong(b"p").as_bytes());
    expected.push(Message::Pong(Bytes::from_static(b"p")));
    let reason = "ü".repeat(100); // cut to 61 characters (122 bytes)
    wire.extend_from_slice(ControlFrame::close(Some(CloseCode::GOING_AWAY), &reason).as_bytes());
    expected.push(Message::Close(Some(CloseFrame { code: 1001u16.into(), reason: "ü".repeat(61).into() })));

    let mut client = tungstenite(TRole::Client, wire);
    let mut got = Vec::new();
    while let Ok(message) = client.read() {
        got.push(message);
    }
    assert_eq!(got, expected);

    // What the client answered (the pong to our ping, the close echo) is masked
    // and reads back with our server decoder.
    client.flush().ok();
    let answer = std::mem::take(&mut client.get_mut().output);
    let (decoded, error) = decode_all(Role::Server, answer);
    assert_eq!(error, None);
    assert_eq!(
        decoded,
        vec![
            Message::Pong(Bytes::from_static(b"are you there")),
            Message::Close(Some(CloseFrame { code: 1001u16.into(), reason: "ü".repeat(61).into() })),
        ]
    );
}

#[test]
fn our_client_frames_are_read_by_the_tungstenite_server() {
    let mut wire = Vec::new();
    let mask = [9, 8, 7, 6];
    encode_frame(&mut wire, true, OpCode::Text, Some(mask), b"{\"type\":\"ack\"}");
    encode_frame(&mut wire, false, OpCode::Binary, Some(mask), &sample(70_000));
    encode_frame(&mut wire, true, OpCode::Continuation, Some(mask), b"!");
    let close = ControlFrame::close(Some(CloseCode::NORMAL), "bye");
    encode_frame(&mut wire, true, OpCode::Close, Some(mask), close.payload());
    let mut server = tungstenite(TRole::Server, wire);
    let mut got = Vec::new();
    while let Ok(message) = server.read() {
        got.push(message);
    }
    let mut big = sample(70_000);
    big.push(b'!');
    assert_eq!(
        got,
        vec![
            Message::text("{\"type\":\"ack\"}"),
            Message::binary(big),
            Message::Close(Some(CloseFrame { code: 1000u16.into(), reason: "bye".into() })),
        ]
    );
}
