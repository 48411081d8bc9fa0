//! One native client of a session for the whole run, in a task of its own: reads the
//! output (every numbered line checked, acked like a browser), and reconnects with
//! `?since=OFFSET` when told to (the reference) or when the server closes the
//! connection after the new process was started (the upgrade), timing each
//! reconnection from the close to `hello`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use ringtty::protocol::ServerMsg;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::lines::Lines;
use crate::client::{control, Msg, Ws};
use crate::Ctx;

/// While the server refuses (or the new process has not accepted yet), a reconnection
/// is tried again this often.
pub const RETRY: Duration = Duration::from_millis(5);
/// "Going away": the server's close on a live upgrade.
const GOING_AWAY: u16 = 1001;

/// Occurrences by what happened.
pub type Counts = BTreeMap<String, u64>;

/// Which reconnection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The reference: this client alone closes and reconnects.
    One,
    /// The reference: every client closes at once and reconnects.
    All,
    /// The server closed the connection (1001) during the upgrade.
    Upgrade,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::One => "reconnect_one",
            Kind::All => "reconnect_all",
            Kind::Upgrade => "upgrade",
        }
    }

    fn after(self) -> &'static str {
        match self {
            Kind::One => "after reconnecting alone",
            Kind::All => "after reconnecting with all the others",
            Kind::Upgrade => "after the upgrade",
        }
    }
}

/// One reconnection, timed.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    /// When the connection ended: the close sent (reference) or received (upgrade).
    pub closed: Instant,
    /// When `hello` arrived on the new connection.
    pub hello: Instant,
    /// The last output byte before the close, and the first after `hello`.
    pub last_byte: Option<Instant>,
    pub first_byte: Option<Instant>,
    /// Lines checked when `hello` arrived (at least one more must follow).
    pub lines_at_hello: u64,
}

pub enum Cmd {
    /// Close, reconnect with `since`, and say when `hello` is in.
    Reconnect(Kind, oneshot::Sender<()>),
    Stop,
}

/// What a client's task hands back at the end.
pub struct Final {
    pub id: String,
    pub lines: Lines,
    pub records: Vec<Record>,
    /// `hello` at another offset than the client had.
    pub resumed_elsewhere: u64,
    /// Reconnection attempts that failed and were tried again, by why.
    pub retries: Counts,
    /// Closes by the server other than 1001 (the code, or how the connection ended).
    pub odd_closes: Counts,
    /// Why the task ended early.
    pub error: Option<String>,
}

/// The scenario's side of a client's task.
pub struct Handle {
    pub tx: mpsc::UnboundedSender<Cmd>,
    pub task: tokio::task::JoinHandle<Final>,
    /// Set once it is back after the upgrade.
    pub upgraded: Rc<Cell<bool>>,
}

impl Handle {
    /// Tells the client to reconnect (a reference `kind`); the receiver hears once
    /// `hello` is in. None if the client's task has ended.
    pub fn reconnect(&self, kind: Kind) -> Option<oneshot::Receiver<()>> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Reconnect(kind, tx)).ok()?;
        Some(rx)
    }

    /// Back after the upgrade, or ended.
    pub fn settled(&self) -> bool {
        self.upgraded.get() || self.task.is_finished()
    }
}

/// Set by the scenario once the upgrade may come: a close before is an error.
#[derive(Default)]
pub struct Board {
    pub ready: Cell<bool>,
    /// The first close of the upgrade, once one arrived.
    pub first_close: Cell<Option<Instant>>,
}

pub struct Client {
    ctx: Rc<Ctx>,
    board: Rc<Board>,
    id: String,
    ws: Option<Ws>,
    /// Offset of the next output byte.
    offset: u64,
    acked: u64,
    lines: Lines,
    /// Which connection the output comes from, for a fault's message.
    phase: &'static str,
    last_byte: Option<Instant>,
    /// The record waiting for its first byte after `hello`.
    awaiting_first: Option<usize>,
    records: Vec<Record>,
    resumed_elsewhere: u64,
    retries: Counts,
    odd_closes: Counts,
    upgraded: Rc<Cell<bool>>,
    buf: Vec<u8>,
}

/// What one read brought besides output.
#[derive(Default)]
struct Got {
    /// The connection ended: the close code, if the server sent one.
    closed: Option<Option<u16>>,
    /// Why, when it was not a close frame.
    how: Option<String>,
    gap: bool,
    exit: bool,
}

impl Client {
    /// Attaches to session `id` (from its start) and returns its task's handle.
    pub async fn start(ctx: &Rc<Ctx>, board: &Rc<Board>, id: String) -> Result<Handle, String> {
        let (ws, hello, pending) = connect(ctx, &id, None).await?;
        let upgraded = Rc::new(Cell::new(false));
        let mut c = Client {
            ctx: ctx.clone(),
            board: board.clone(),
            id,
            ws: Some(ws),
            offset: hello,
            acked: hello,
            lines: Lines::default(),
            phase: "on the first connection",
            last_byte: None,
            awaiting_first: None,
            records: Vec::new(),
            resumed_elsewhere: 0,
            retries: Counts::new(),
            odd_closes: Counts::new(),
            upgraded: upgraded.clone(),
            buf: Vec::with_capacity(16 * 1024),
        };
        c.resumed(hello, &pending).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::task::spawn_local(c.run(rx));
        Ok(Handle { tx, task, upgraded })
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) -> Final {
        let error = self.serve(&mut rx).await.err();
        if let Some(ws) = self.ws.take() {
            ws.close().await;
        }
        Final {
            id: self.id,
            lines: self.lines,
            records: self.records,
            resumed_elsewhere: self.resumed_elsewhere,
            retries: self.retries,
            odd_closes: self.odd_closes,
            error,
        }
    }

    async fn serve(&mut self, rx: &mut mpsc::UnboundedReceiver<Cmd>) -> Result<(), String> {
        loop {
            let ws = self.ws.as_mut().ok_or("no connection")?;
            let (buf, mut got) = (&mut self.buf, Got::default());
            buf.clear();
            tokio::select! {
                r = ws.read(|m| match m {
                    Msg::Output(b) => buf.extend_from_slice(b),
                    Msg::Text(t) => match control(t) {
                        Some(ServerMsg::Gap { .. }) => got.gap = true,
                        Some(ServerMsg::Exit { .. }) => got.exit = true,
                        _ => {}
                    },
                    Msg::Closed(code) => got.closed = Some(code),
                    Msg::Pong(_) => {}
                }) => {
                    match r {
                        Ok(true) => {}
                        Ok(false) => {
                            got.closed.get_or_insert(None);
                        }
                        Err(e) => (got.closed, got.how) = (Some(None), Some(e.kind().to_string())),
                    }
                    self.handle(got).await?;
                }
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Reconnect(kind, done)) => {
                        let r = self.reconnect(kind).await;
                        let _ = done.send(());
                        r?;
                    }
                    Some(Cmd::Stop) | None => return Ok(()),
                },
            }
        }
    }

    /// What a read brought: output (checked, acked), then a close or a message that
    /// ends the run for this client.
    async fn handle(&mut self, got: Got) -> Result<(), String> {
        let out = std::mem::take(&mut self.buf);
        self.take_output(&out, Instant::now());
        self.buf = out;
        if got.gap {
            return Err(format!("session {}: gap: output was skipped ({})", self.id, self.phase));
        }
        if got.exit {
            return Err(format!("session {}: the command exited ({})", self.id, self.phase));
        }
        if let Some(code) = got.closed {
            return self.closed_by_server(code, got.how).await;
        }
        let Some(ws) = self.ws.as_mut() else { return Ok(()) };
        let io = |e: std::io::Error| format!("ack: {e}");
        if self.offset - self.acked >= self.ctx.args.ack_bytes {
            self.acked = self.offset;
            ws.send_ack(self.offset).await.map_err(io)?;
        }
        ws.flush().await.map_err(io)
    }

    /// The server ended the connection: the upgrade, once the scenario said it may come.
    async fn closed_by_server(&mut self, code: Option<u16>, how: Option<String>) -> Result<(), String> {
        let shown = match (code, how) {
            (Some(c), _) => format!("close {c}"),
            (None, Some(how)) => how,
            (None, None) => "closed without a close frame".to_string(),
        };
        if !self.board.ready.get() || self.upgraded.get() {
            let when = if self.upgraded.get() { "after the upgrade" } else { "before the upgrade" };
            return Err(format!("session {}: the server ended the connection {when} ({shown})", self.id));
        }
        if code != Some(GOING_AWAY) {
            *self.odd_closes.entry(shown).or_default() += 1;
        }
        let now = Instant::now();
        if self.board.first_close.get().is_none() {
            self.board.first_close.set(Some(now));
        }
        let r = self.reconnect_from(Kind::Upgrade, now).await;
        self.upgraded.set(true);
        r
    }

    /// A reference reconnection: this client closes, then reconnects.
    async fn reconnect(&mut self, kind: Kind) -> Result<(), String> {
        let closed = Instant::now();
        if let Some(ws) = self.ws.take() {
            ws.close().await;
        }
        self.reconnect_from(kind, closed).await
    }

    /// Reconnects with `since` (now, then every [`RETRY`] while refused, until --timeout
    /// after `closed`) and records the time from `closed` to `hello`.
    async fn reconnect_from(&mut self, kind: Kind, closed: Instant) -> Result<(), String> {
        self.ws = None;
        let since = self.offset;
        let deadline = closed + self.ctx.args.timeout;
        let (ws, hello, pending) = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let why = match tokio::time::timeout(left, connect(&self.ctx, &self.id, Some(since))).await {
                Ok(Ok(x)) => break x,
                Ok(Err(why)) => why,
                Err(_) => "no hello".to_string(),
            };
            if Instant::now() + RETRY >= deadline {
                return Err(format!(
                    "{}: session {}: not back within --timeout ({why})",
                    kind.name(),
                    self.id
                ));
            }
            *self.retries.entry(format!("{}: {why}", kind.name())).or_default() += 1;
            tokio::time::sleep(RETRY).await;
        };
        let at = Instant::now();
        self.ws = Some(ws);
        self.phase = kind.after();
        self.records.push(Record {
            kind,
            closed,
            hello: at,
            last_byte: self.last_byte,
            first_byte: None,
            lines_at_hello: self.lines.seen(),
        });
        self.awaiting_first = Some(self.records.len() - 1);
        self.ctx.progress.add_done(1);
        if hello != since {
            self.resumed_elsewhere += 1;
        }
        self.resumed(hello, &pending).await
    }

    /// After `hello`: opts in to flow control (an ack of where it starts, as ringtty's
    /// page does) and takes the output that came with it.
    async fn resumed(&mut self, hello: u64, pending: &[u8]) -> Result<(), String> {
        (self.offset, self.acked) = (hello, hello);
        let ws = self.ws.as_mut().ok_or("no connection")?;
        ws.send_ack(hello).await.map_err(|e| format!("ack: {e}"))?;
        self.take_output(pending, Instant::now());
        Ok(())
    }

    fn take_output(&mut self, bytes: &[u8], now: Instant) {
        if bytes.is_empty() {
            return;
        }
        self.lines.feed(bytes, self.offset, self.phase);
        self.offset += bytes.len() as u64;
        self.last_byte = Some(now);
        if let Some(i) = self.awaiting_first.take() {
            self.records[i].first_byte = Some(now);
        }
        self.ctx.progress.add_bytes(bytes.len() as u64);
    }
}

/// `GET /api/sessions/{id}/ws[?since=N]` up to `hello`: the socket, hello's offset and
/// any output that came in the same read. Err: why not, in a few words.
async fn connect(ctx: &Ctx, id: &str, since: Option<u64>) -> Result<(Ws, u64, Vec<u8>), String> {
    let query = since.map(|s| format!("?since={s}")).unwrap_or_default();
    let path = format!("/api/sessions/{id}/ws{query}");
    let mut ws = Ws::connect(&ctx.target, &path, Some("ringtty.v1")).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::Other => e.to_string(),
        kind => kind.to_string(),
    })?;
    let (mut hello, mut pending, mut closed, mut early) = (None, Vec::new(), None, false);
    while hello.is_none() {
        let open = ws
            .read(|m| match m {
                Msg::Text(t) => {
                    if let Some(ServerMsg::Hello { offset, .. }) = control(t) {
                        hello = Some(offset);
                    }
                }
                Msg::Output(b) if hello.is_some() => pending.extend_from_slice(b),
                Msg::Output(_) => early = true,
                Msg::Closed(code) => closed = Some(code),
                Msg::Pong(_) => {}
            })
            .await
            .map_err(|e| e.kind().to_string())?;
        if early {
            return Err("output before hello".into());
        }
        if hello.is_none() && (!open || closed.is_some()) {
            return Err(format!("closed before hello ({:?})", closed.flatten()));
        }
    }
    Ok((ws, hello.unwrap_or(0), pending))
}
