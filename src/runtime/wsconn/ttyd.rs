//! ttyd's protocol on `GET /ws` (SPEC §5), with ttyd's semantics: one process per
//! connection, started once the client's first message gives its size, ended when the
//! connection closes. The session underneath is an ordinary one of dialect `Ttyd` (its
//! output buffers are framed with ttyd's `'0'` in front, once), served by the same
//! writer as a native client; only the reader differs.
//!
//! Messages may arrive fragmented: every message is collected and acted on whole, like
//! native input (see `ws::whole_input`): input (`'0'`) up to the message limit, so one
//! over it is refused with nothing typed; the JSON messages up to [`MAX_CONTROL_LEN`],
//! parsed by [`TtydClientMsg::parse`].

use std::borrow::Cow;
use std::ffi::OsString;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::timeout;

use super::native::{self as rws, Ending, Out, Outbox, Reader, Refusal, WsConfig};
use crate::protocol::ttyd::{self, TtydClientMsg, TtydInit, TtydServerMsg};
use crate::protocol::{WinSize, MAX_CONTROL_LEN};
use crate::runtime::pty_task::{self as api, StartOpts};
use crate::runtime::transport::Transport as Stream;
use crate::runtime::worker::{unix_now, ConnHandle, Live, Worker};
use crate::session::{ClientId, Dialect};
use crate::ws::{CloseCode, Event};

/// How long a client may take to send its first message after the upgrade.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one ttyd client: waits for its first message, starts `argv` at its size, then
/// relays until either side ends. The process is killed when the connection closes.
pub async fn serve(
    w: &Rc<Worker>,
    stream: &Rc<Stream>,
    handle: &Rc<ConnHandle>,
    leftover: Vec<u8>,
    cfg: WsConfig,
    (argv, upgraded_as): (Vec<OsString>, Option<crate::auth::Principal>),
    session: &std::cell::Cell<Option<crate::session::SessionId>>,
) -> Ending {
    let Some(slot) = rws::ClientSlot::claim(w) else {
        return rws::refuse(w, stream, CloseCode::TRY_AGAIN_LATER, "too many clients (-m)").await;
    };
    let outbox = Outbox::new();
    let mut reader = Reader::new(w, stream, &outbox, leftover, cfg);
    let mut msg = Assembler::default();
    // Before the process exists: everything but the first JSON message is ignored, as
    // ttyd does (it has nowhere to go).
    let init = loop {
        let event = match reader.next_event() {
            Ok(Some(event)) => event,
            Ok(None) => match timeout(INIT_TIMEOUT, reader.fill()).await {
                Ok(Ok(())) => continue,
                Ok(Err(ending)) => return ending,
                Err(_) => {
                    outbox.close(Some(CloseCode::POLICY_VIOLATION), "no initial message", true);
                    return send_queued(w, stream, &outbox).await;
                }
            },
            Err(ending) => {
                send_queued(w, stream, &outbox).await;
                return ending;
            }
        };
        let whole = match event {
            Event::Data { payload, first, last, .. } => msg.feed(payload, first, last),
            other => match outbox.answer_control(&other) {
                Some(ending) => {
                    send_queued(w, stream, &outbox).await;
                    return ending;
                }
                None => continue,
            },
        };
        match whole {
            Ok(Piece::Whole(bytes)) => match TtydClientMsg::parse(bytes) {
                Ok(TtydClientMsg::Init(TtydInit { size, auth_token })) => {
                    // The upgrade's credential (a cookie, a Bearer), else the init's.
                    let principal = match upgraded_as {
                        Some(p) => Ok(p),
                        None => {
                            let token = auth_token.as_deref().unwrap_or_default();
                            crate::auth::admit_ttyd_init(token, &w.cfg.admission, unix_now())
                        }
                    };
                    break (size, principal);
                }
                Ok(_) => {}
                Err(e) => {
                    outbox.close(Some(e.close_code()), "invalid message", true);
                    return send_queued(w, stream, &outbox).await;
                }
            },
            Ok(Piece::Input(_) | Piece::Nothing) => {}
            Err((code, reason)) => {
                outbox.close(Some(code), reason, true);
                return send_queued(w, stream, &outbox).await;
            }
        }
    };
    let (init, principal) = init;
    let Ok(principal) = principal else {
        w.stats().auth_failed();
        outbox.close(
            Some(CloseCode::POLICY_VIOLATION),
            "authentication required: a token in AuthToken",
            true,
        );
        return send_queued(w, stream, &outbox).await;
    };
    if !principal.may_create() {
        outbox.close(
            Some(CloseCode::POLICY_VIOLATION),
            "a one-session token cannot start a ttyd process",
            true,
        );
        return send_queued(w, stream, &outbox).await;
    }
    let size = init.apply(WinSize::DEFAULT);
    let spawn_deadline = Some(std::time::Instant::now() + INIT_TIMEOUT);
    let owner = principal.owner();
    let opts =
        StartOpts { name: None, cwd: None, env: None, size, dialect: Dialect::Ttyd, spawn_deadline, owner };
    let live = match api::start(w, argv, opts).await {
        Ok(live) => live,
        Err(e) => {
            outbox.close(Some(start_close_code(&e)), &e.to_string(), true);
            return send_queued(w, stream, &outbox).await;
        }
    };
    session.set(Some(live.id));
    let writable = w.cfg.terminal.writable && principal.may_write();
    let attached = live.state.borrow_mut().attach(w.now(), writable, None);
    let Ok((client, hello)) = attached else {
        live.terminate(w);
        outbox.close(Some(CloseCode::INTERNAL_ERROR), "cannot attach", true);
        return send_queued(w, stream, &outbox).await;
    };
    w.stats().client_attached();
    live.flow_changed();
    for m in [TtydServerMsg::Title(&title(&live)), TtydServerMsg::Preferences(&w.shared.ttyd_preferences)] {
        let mut frame = outbox.spare_buffer();
        m.encode_frame(&mut frame);
        outbox.push(Out::Frame { buf: frame, start: 0 });
    }
    msg.keep_input = hello.writable;
    let reader = std::pin::pin!(relay(w, reader, &live, client, msg));
    let ending = rws::serve_attached(w, stream, handle, &outbox, cfg, &live, client, reader).await;
    drop(slot);
    ending
}

/// How a ttyd client is told that its process could not start: "try again later"
/// (1013) when the server is out of room, "internal error" (1011) otherwise (ttyd's
/// protocol has no way to say the request was wrong).
fn start_close_code(e: &api::StartError) -> CloseCode {
    match e.blame() {
        crate::pty::Blame::Capacity => CloseCode::TRY_AGAIN_LATER,
        crate::pty::Blame::Request | crate::pty::Blame::Server => CloseCode::INTERNAL_ERROR,
    }
}

/// The window title ttyd sends: the command line and the host.
fn title(live: &Live) -> String {
    let host = rustix::system::uname();
    format!("{} ({})", live.meta.command.join(" "), host.nodename().to_string_lossy())
}

/// After the process started: input, resize, pause and resume until the peer goes.
async fn relay(
    w: &Worker,
    mut reader: Reader<'_>,
    live: &Live,
    client: ClientId,
    mut msg: Assembler,
) -> Ending {
    let outbox = reader.outbox();
    loop {
        let event = match reader.next_event() {
            Ok(Some(event)) => event,
            Ok(None) => match reader.fill().await {
                Ok(()) => continue,
                Err(ending) => return ending,
            },
            Err(ending) => return ending,
        };
        let result = match event {
            Event::Data { payload, first, last, .. } => match msg.feed(payload, first, last) {
                Ok(Piece::Input(bytes)) => rws::input(w, live, client, &bytes).await,
                Ok(Piece::Whole(bytes)) => control(w, live, client, bytes),
                Ok(Piece::Nothing) => Ok(()),
                Err(refusal) => Err(refusal),
            },
            other => match outbox.answer_control(&other) {
                Some(ending) => return ending,
                None => Ok(()),
            },
        };
        if let Err(refusal) = result {
            return outbox.fail(refusal);
        }
    }
}

/// A whole non-input message: resize, pause, resume (a second init is ignored, as ttyd).
fn control(w: &Worker, live: &Live, client: ClientId, bytes: &[u8]) -> Result<(), Refusal> {
    let parsed = TtydClientMsg::parse(bytes).map_err(|e| (e.close_code(), "invalid message"))?;
    let now = w.now();
    let mut state = live.state.borrow_mut();
    // The new size, if any, is applied once the borrow has ended.
    let result = match parsed {
        TtydClientMsg::Resize(size) => {
            let size = size.apply(state.size());
            state.resize(client, size, now)
        }
        TtydClientMsg::Pause => state.set_paused(client, true, now).map(|()| None),
        TtydClientMsg::Resume => state.set_paused(client, false, now).map(|()| None),
        TtydClientMsg::Init(_) | TtydClientMsg::Input(_) | TtydClientMsg::Ignored => Ok(None),
    };
    drop(state);
    if let Ok(Some(size)) = result {
        live.apply_size(size);
    }
    live.flow_changed();
    match result.map_err(|e| e.close_code()) {
        Err(Some(code)) => Err((code, "message refused")),
        Ok(_) | Err(None) => Ok(()),
    }
}

/// Writes what is queued (a pong, the close frame) before the session's writer runs.
async fn send_queued(w: &Worker, stream: &Stream, outbox: &Outbox) -> Ending {
    while let Some(out) = outbox.pop() {
        let sent = rws::write_bytes(w, stream, out.bytes()).await;
        rws::note_close(stream, &out);
        outbox.written(out);
        if sent.is_err() {
            return Ending::Done;
        }
    }
    Ending::Failed
}

/// What a fragment of a ttyd message amounts to.
enum Piece<'a> {
    /// A complete `'0'` message's terminal input, without the command byte.
    Input(Cow<'a, [u8]>),
    /// A complete other message, its command byte included.
    Whole(&'a [u8]),
    /// Nothing to act on yet (a fragment of a JSON message, an empty message).
    Nothing,
}

/// Reassembles ttyd messages from WebSocket fragments: the first byte of a message
/// says what it is and how much of it may be collected (input: the message limit,
/// checked by the decoder; JSON: [`MAX_CONTROL_LEN`] bytes).
#[derive(Default)]
struct Assembler {
    /// The current message's command byte, once its first byte has arrived.
    command: Option<u8>,
    collected: Vec<u8>,
    /// Input is collected and handed on: false before the process starts and for a
    /// client that may not type (its input would be dropped).
    keep_input: bool,
}

impl Assembler {
    fn feed<'a>(&'a mut self, payload: &'a [u8], first: bool, last: bool) -> Result<Piece<'a>, Refusal> {
        if first {
            self.command = None;
            self.collected.clear();
        }
        let mut data = payload;
        if self.command.is_none() {
            if let Some((&command, rest)) = data.split_first() {
                self.command = Some(command);
                if command == ttyd::INPUT {
                    data = rest;
                }
            }
        }
        match self.command {
            None => Ok(if last { Piece::Whole(&[]) } else { Piece::Nothing }),
            Some(ttyd::INPUT) if !self.keep_input => Ok(Piece::Nothing),
            Some(ttyd::INPUT) => {
                let input = rws::whole_input(&mut self.collected, data, first, last, true);
                Ok(input.map_or(Piece::Nothing, Piece::Input))
            }
            Some(_) => {
                if self.collected.len() + data.len() > MAX_CONTROL_LEN + 1 {
                    return Err((CloseCode::MESSAGE_TOO_BIG, "message too long"));
                }
                self.collected.extend_from_slice(data);
                Ok(if last { Piece::Whole(&self.collected) } else { Piece::Nothing })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_failure_closes_1013_when_out_of_room_else_1011() {
        use crate::pty::SpawnError;
        let start =
            |code| SpawnError::Start { program: "x".into(), error: std::io::Error::from_raw_os_error(code) };
        let table: Vec<(api::StartError, u16)> = vec![
            (api::StartError::AtCapacity { max: 1 }, 1013),
            (SpawnError::Busy.into(), 1013),
            (start(libc::EAGAIN).into(), 1013),
            (start(libc::ENOENT).into(), 1011),
            (SpawnError::Stopped.into(), 1011),
            (api::StartError::NoRandomness, 1011),
        ];
        for (e, code) in table {
            assert_eq!(start_close_code(&e).as_u16(), code, "{e:?}");
        }
    }

    fn whole(p: Result<Piece<'_>, Refusal>) -> Option<Vec<u8>> {
        match p {
            Ok(Piece::Whole(b)) => Some(b.to_vec()),
            _ => None,
        }
    }

    fn input(p: Result<Piece<'_>, Refusal>) -> Option<Vec<u8>> {
        match p {
            Ok(Piece::Input(b)) => Some(b.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn input_comes_whole_without_its_command_byte() {
        let mut a = Assembler { keep_input: true, ..Assembler::default() };
        assert_eq!(input(a.feed(b"0ab", true, true)), Some(b"ab".to_vec()));
        assert!(matches!(a.feed(b"0ab", true, false), Ok(Piece::Nothing)));
        assert_eq!(input(a.feed(b"cd", false, true)), Some(b"abcd".to_vec()));
        // An empty first fragment: the command byte comes with the next one.
        assert!(matches!(a.feed(b"", true, false), Ok(Piece::Nothing)));
        assert!(matches!(a.feed(b"0x", false, false), Ok(Piece::Nothing)));
        assert_eq!(input(a.feed(b"y", false, true)), Some(b"xy".to_vec()));
        // Nothing is collected for a client that may not type.
        a.keep_input = false;
        assert!(matches!(a.feed(b"0ab", true, false), Ok(Piece::Nothing)));
        assert!(matches!(a.feed(b"cd", false, true), Ok(Piece::Nothing)));
        assert_eq!(a.collected.capacity(), 0);
    }

    #[test]
    fn json_messages_are_collected_whole_and_bounded() {
        let mut a = Assembler::default();
        assert!(matches!(a.feed(b"1{\"colu", true, false), Ok(Piece::Nothing)));
        assert_eq!(whole(a.feed(b"mns\":100}", false, true)), Some(b"1{\"columns\":100}".to_vec()));
        assert_eq!(whole(a.feed(b"2", true, true)), Some(b"2".to_vec()));
        assert_eq!(whole(a.feed(b"", true, true)), Some(Vec::new()));
        let big = vec![b' '; MAX_CONTROL_LEN];
        assert!(matches!(a.feed(b"{", true, false), Ok(Piece::Nothing)));
        assert!(matches!(a.feed(&big, false, false), Ok(Piece::Nothing)));
        assert!(matches!(a.feed(b"}", false, true), Err((CloseCode::MESSAGE_TOO_BIG, _))));
    }
}
