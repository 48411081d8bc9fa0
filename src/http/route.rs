//! The route table: (method, path) -> what to do. Pure, so every route and every 404/405
//! is unit-tested without a socket.

use super::Method;

/// What a request is for, after the base path has been stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    /// The WebSocket echo endpoint (`--ws-echo PATH`), for conformance tools.
    WsEcho,
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
}

/// Resolves `path` (without query) under `base_path` (`""` or `/prefix`, no trailing
/// slash). `ws_echo` is the echo endpoint's path relative to the base, if enabled.
pub fn route(method: Method, path: &str, base_path: &str, ws_echo: Option<&str>) -> Route {
    let Some(rest) = path.strip_prefix(base_path) else {
        return Route::NotFound;
    };
    let rest = match rest {
        "" => "/",
        r if r.starts_with('/') => r,
        _ => return Route::NotFound,
    };
    let get_only = |r: Route| match method {
        Method::Get | Method::Head => r,
        _ => Route::MethodNotAllowed("GET, HEAD"),
    };
    match rest {
        "/health" => get_only(Route::Health),
        "/metrics" => get_only(Route::Metrics),
        p if Some(p) == ws_echo => match method {
            Method::Get => Route::WsEcho,
            _ => Route::MethodNotAllowed("GET"),
        },
        _ => Route::NotFound,
    }
}
