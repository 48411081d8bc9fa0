//! ttyd's protocol on `GET /ws` (SPEC §5), with ttyd's semantics: one process per
//! connection, started once the client's first message gives its size, ended when the
//! connection closes. The session underneath is an ordinary one of dialect `Ttyd` (its
//! output buffers are framed with ttyd's `'0'` in front, once), served on the same
//! WebSocket driver (`ws_driver`) and as the same attached client (`ws::Client`) as a
//! native one; what differs is the wait for the first message ([`Init`], at most
//! [`INIT_TIMEOUT`] after the upgrade) and how messages are read ([`Assembler`]).
//!
//! Messages may arrive fragmented: every message is collected and acted on whole, like
//! native input (see `ws::whole_input`): input (`'0'`) up to the message limit, so one
//! over it is refused with nothing typed; the JSON messages up to [`MAX_CONTROL_LEN`],
//! parsed by [`TtydClientMsg::parse`].

use std::borrow::Cow;
use std::ffi::OsString;
use std::rc::Rc;
use std::time::Duration;

use super::driver::{Chunk, Driver, Endpoint, Flow};
use super::native::{self as rws, Client, Ending, Messages, Refusal, WsConfig};
use crate::protocol::ttyd::{self, TtydClientMsg, TtydInit, TtydServerMsg, TtydSize};
use crate::protocol::{WinSize, MAX_CONTROL_LEN};
use crate::runtime::pty_task::{self, StartError, StartOpts};
use crate::runtime::transport::Transport;
use crate::runtime::worker::{unix_now, ConnHandle, Live, Worker};
use crate::session::{ClientId, Dialect};
use crate::ws::connection::Connection;
use crate::ws::CloseCode;

/// How long a client may take to send its first message after the upgrade.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one ttyd client: waits for its first message, starts `argv` at its size, then
/// relays until either side ends. The process is killed when the connection closes.
pub async fn serve(
    w: &Rc<Worker>,
    stream: &Rc<Transport>,
    handle: &Rc<ConnHandle>,
    leftover: Vec<u8>,
    cfg: WsConfig,
    (argv, upgraded_as): (Vec<OsString>, Option<crate::auth::Principal>),
    session: &std::cell::Cell<Option<crate::session::SessionId>>,
) -> Ending {
    let mut driver = Driver::new(w, stream, handle, leftover, cfg);
    let Some(slot) = rws::ClientSlot::claim(w) else {
        return driver.refuse(CloseCode::TRY_AGAIN_LATER, "too many clients (-m)").await;
    };
    let (size, principal) = match first_message(&mut driver, upgraded_as).await {
        Ok(admitted) => admitted,
        Err(ending) => return ending,
    };
    let size = size.apply(WinSize::DEFAULT);
    let spawn_deadline = Some(std::time::Instant::now() + INIT_TIMEOUT);
    let owner = principal.owner();
    let opts = StartOpts {
        name: None,
        cwd: None,
        env: None,
        size,
        dialect: Dialect::Ttyd,
        spawn_deadline,
        owner,
        record: false,
    };
    // Nothing is read while the process starts: not the peer's silence.
    driver.conn.pause_reading(w.now().0);
    let started = pty_task::start(w, argv, opts).await;
    driver.conn.resume_reading(w.now().0);
    let live = match started {
        Ok(live) => live,
        Err(e) => return driver.refuse(start_close_code(&e), &e.to_string()).await,
    };
    session.set(Some(live.id));
    let writable = w.cfg.terminal.writable && principal.may_write();
    let attached = live.state.borrow_mut().attach(w.now(), writable, None);
    let Ok((client, hello)) = attached else {
        live.terminate(w);
        return driver.refuse(CloseCode::INTERNAL_ERROR, "cannot attach").await;
    };
    w.stats().client_attached();
    live.flow_changed();
    for m in [TtydServerMsg::Title(&title(&live)), TtydServerMsg::Preferences(&w.shared.ttyd_preferences)] {
        let mut frame = driver.conn.spare_buffer();
        m.encode_frame(&mut frame);
        driver.conn.send_frame(frame, 0);
    }
    let messages = Assembler { keep_input: hello.writable, ..Assembler::default() };
    let ending = rws::serve_attached(&mut driver, &live, client, messages).await;
    drop(slot);
    ending
}

/// Waits for the first message and admits its sender: the size to start at and who
/// starts it, or how the connection ended (a refusal is closed here).
async fn first_message(
    driver: &mut Driver<'_>,
    upgraded_as: Option<crate::auth::Principal>,
) -> Result<(TtydSize, crate::auth::Principal), Ending> {
    let w = driver.worker();
    let deadline = w.now().0.saturating_add(INIT_TIMEOUT.as_millis() as u64);
    let mut init = Init { w, upgraded_as, msg: Assembler::default(), deadline, found: None };
    if let Some(ending) = driver.run(&mut init).await {
        return Err(ending);
    }
    let Some((size, principal)) = init.found else { return Err(driver.finish().await) };
    let Ok(principal) = principal else {
        w.stats().auth_failed();
        let reason = "authentication required: a token in AuthToken";
        return Err(driver.refuse(CloseCode::POLICY_VIOLATION, reason).await);
    };
    if !principal.may_create() {
        let reason = "a one-session token cannot start a ttyd process";
        return Err(driver.refuse(CloseCode::POLICY_VIOLATION, reason).await);
    }
    Ok((size, principal))
}

/// Before the process exists: everything but the first JSON message is ignored, as
/// ttyd does (it has nowhere to go). It must come within [`INIT_TIMEOUT`] of the
/// upgrade.
struct Init<'a> {
    w: &'a Worker,
    /// The upgrade's credential (a cookie, a Bearer), if it had one.
    upgraded_as: Option<crate::auth::Principal>,
    msg: Assembler,
    deadline: u64,
    /// The first message's size, and who sent it.
    found: Option<(TtydSize, Result<crate::auth::Principal, crate::auth::Unauthorized>)>,
}

impl Endpoint for Init<'_> {
    fn handle_data(&mut self, conn: &mut Connection, c: Chunk<'_>, now: u64) -> Flow {
        let bytes = match self.msg.feed(c.payload, c.first, c.last) {
            Ok(Piece::Whole(bytes)) => bytes,
            Ok(Piece::Input(_) | Piece::Nothing) => return Flow::Go,
            Err((code, reason)) => {
                conn.fail(code, reason, now);
                return Flow::Go;
            }
        };
        match TtydClientMsg::parse(bytes) {
            Ok(TtydClientMsg::Init(TtydInit { size, auth_token })) => {
                // The upgrade's credential, else the init's.
                let principal = match self.upgraded_as.take() {
                    Some(p) => Ok(p),
                    None => {
                        let token = auth_token.as_deref().unwrap_or_default();
                        let now_unix = unix_now();
                        let revoked = |p: &crate::auth::Principal| self.w.shared.revoked.refuses(p, now_unix);
                        crate::auth::admit_ttyd_init(token, &self.w.cfg.admission, now_unix, revoked)
                    }
                };
                self.found = Some((size, principal));
                Flow::Stop
            }
            Ok(_) => Flow::Go,
            Err(e) => {
                conn.fail(e.close_code(), "invalid message", now);
                Flow::Go
            }
        }
    }

    fn poll_timeout(&self) -> Option<u64> {
        Some(self.deadline)
    }

    fn handle_timeout(&mut self, conn: &mut Connection, now: u64) {
        conn.fail(CloseCode::POLICY_VIOLATION, "no initial message", now);
    }
}

/// How a ttyd client is told that its process could not start: "try again later"
/// (1013) when the server is out of room, "internal error" (1011) otherwise (ttyd's
/// protocol has no way to say the request was wrong).
fn start_close_code(e: &StartError) -> CloseCode {
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
impl Messages for Assembler {
    fn handle(&mut self, client: &mut Client<'_>, c: Chunk<'_>) -> Result<Flow, Refusal> {
        match self.feed(c.payload, c.first, c.last)? {
            Piece::Input(bytes) => client.input(&bytes),
            Piece::Whole(bytes) => control(client.w, client.live, client.id, bytes).map(|()| Flow::Go),
            Piece::Nothing => Ok(Flow::Go),
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
        let table: Vec<(StartError, u16)> = vec![
            (StartError::AtCapacity { max: 1 }, 1013),
            (SpawnError::Busy.into(), 1013),
            (start(libc::EAGAIN).into(), 1013),
            (start(libc::ENOENT).into(), 1011),
            (SpawnError::Stopped.into(), 1011),
            (StartError::NoRandomness, 1011),
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
