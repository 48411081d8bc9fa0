//! `GET /api/sessions/{id}/cast`: a session's recording (asciicast v2), for its owner
//! or an admin. Not for a share link to that session: the recording holds everything
//! the terminal showed since it started, far beyond the scrollback a link can watch,
//! so a leaked link must not yield it. The file is streamed by the connection (`httpconn`), read in chunks on the
//! recorder's writer thread (`runtime::record`): the worker never waits on the disk.

use std::sync::Arc;

use super::reply::Reply;
use crate::auth::Principal;
use crate::http::Head;
use crate::runtime::record::Recording;
use crate::runtime::worker::Worker;

/// The recording of session `id` for `p`: 404 for a session `p` does not reach (as
/// every session endpoint answers), 404 with a reason for one that is not recorded.
pub fn find(w: &Worker, id: &str, p: &Principal) -> Result<Arc<Recording>, Reply> {
    let live = super::sessions::find(w, id, p)?;
    if p.session.is_some() {
        return Err(Reply::fail(403, "a share link does not download the recording: its owner can"));
    }
    let recording = w.shared.recorder.as_ref().and_then(|r| r.find(live.id.as_str()));
    recording.ok_or_else(|| {
        Reply::fail(
            404,
            "this session is not recorded: create it with \"record\": true (and --record-dir), or start \
             ringtty with --record DIR",
        )
    })
}

/// The response's head for a recording of `len` bytes.
pub fn head(w: &Worker, rec: &Recording, len: u64, keep_alive: bool, out: &mut Vec<u8>) {
    let name: String = rec
        .file_name()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = format!("attachment; filename=\"{name}\"");
    let extra = [
        ("Content-Disposition", disposition.as_str()),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ];
    let content_length = usize::try_from(len).unwrap_or(usize::MAX);
    let hsts = w.hsts();
    Head {
        status: 200,
        content_type: "application/x-asciicast",
        content_length,
        keep_alive,
        extra: &extra,
        hsts,
    }
    .write(&w.date(), out);
    w.stats().response(200);
}
