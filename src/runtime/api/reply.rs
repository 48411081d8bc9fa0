//! Writing a response into a connection's output: a JSON [`Reply`] (what every handler
//! returns), an error body, or any body, each with the worker's `Date` and counted in
//! its stats.

use serde_json::{json, Value};

use crate::http::{self, Head};
use crate::runtime::worker::Worker;

/// A response: status and JSON body.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// Extra header fields (e.g. `Retry-After`, `Set-Cookie`).
    pub extra: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn ok(status: u16, body: Value) -> Reply {
        Reply { status, body, extra: Vec::new() }
    }

    pub fn fail(status: u16, reason: impl Into<String>) -> Reply {
        Reply { status, body: json!({ "error": reason.into() }), extra: Vec::new() }
    }

    /// `429` with the seconds to wait.
    pub fn too_many(retry: crate::auth::RetryAfter) -> Reply {
        let mut reply = Reply::fail(429, format!("rate limited: retry in {} s", retry.0));
        reply.extra.push(("Retry-After", retry.0.to_string()));
        reply
    }

    pub fn with(mut self, name: &'static str, value: String) -> Reply {
        self.extra.push((name, value));
        self
    }
}

/// Writes `reply` into `out`. Errors are `{"error": ...}` bodies like any other reply, so
/// keep-alive and HEAD apply to them too.
pub fn write(w: &Worker, reply: Reply, keep_alive: bool, head_only: bool, out: &mut Vec<u8>) {
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    let extra: Vec<(&str, &str)> = reply.extra.iter().map(|(n, v)| (*n, v.as_str())).collect();
    respond(w, out, reply.status, "application/json", &body, keep_alive, &extra, head_only);
}

/// Writes a `{"error": reason}` response that closes the connection.
pub fn error_into(w: &Worker, out: &mut Vec<u8>, status: u16, reason: &str, extra: &[(&str, &str)]) {
    let mut body = Vec::with_capacity(64);
    http::json_error(reason, &mut body);
    respond(w, out, status, "application/json", &body, false, extra, false);
}

#[allow(clippy::too_many_arguments)]
pub fn respond(
    w: &Worker,
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    extra: &[(&str, &str)],
    head_only: bool,
) {
    let hsts = w.hsts();
    Head { status, content_type, content_length: body.len(), keep_alive, extra, hsts }.write(&w.date(), out);
    if !head_only {
        out.extend_from_slice(body);
    }
    w.stats().response(status);
}
