//! The embedded web UI: the terminal page (`/`), the session dashboard (`/sessions`), the
//! login page (`/login`) and their hashed assets, built from `web/` by `build.rs` (cargo
//! feature `web`) and stored in the binary raw, gzip- and brotli-compressed.
//!
//! [`Site`] answers GET/HEAD of a path with the bytes to send and every header that goes
//! with them: the content coding chosen from `Accept-Encoding`, ETag and `304` for
//! `If-None-Match`, cache lifetimes, and the security headers (CSP, frame options).
//!
//! Pure: no sockets, no clock. The one IO it does is reading the `-I/--index` file once,
//! at startup, in [`Site::new`]. Without the `web` feature the asset table is empty and
//! only an `-I` page is served.
#![forbid(unsafe_code)]

mod negotiate;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::Path;

use negotiate::{etag_matches, Coding};

/// One embedded file. Built by `build.rs` into `OUT_DIR/web_assets.rs`.
pub(crate) struct Asset {
    /// URL path relative to the base path: `/`, `/sessions`, `/assets/index-AbC123.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Its name carries a content hash, so it can be cached for a year.
    pub immutable: bool,
    /// A page: gets the CSP and frame options.
    pub html: bool,
    pub identity: Variant,
    /// Absent where compression did not make the file smaller.
    pub gzip: Option<Variant>,
    pub brotli: Option<Variant>,
}

/// One content coding of an asset. Each coding has its own strong ETag, as RFC 9110
/// §8.8.3.3 requires of different representations.
pub(crate) struct Variant {
    pub body: &'static [u8],
    pub etag: &'static str,
}

#[cfg(feature = "web")]
include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

#[cfg(not(feature = "web"))]
static ASSETS: &[Asset] = &[];

/// Whether a shipped script compiles WebAssembly (the image addon's sixel decoder does),
/// so the CSP must allow `'wasm-unsafe-eval'`. Found by `build.rs` in the built scripts.
#[cfg(not(feature = "web"))]
const USES_WASM: bool = false;

/// `-I/--index FILE`: the operator's own page, served at `/` as given.
struct CustomIndex {
    body: Vec<u8>,
    etag: String,
}

const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
const CACHE_REVALIDATE: &str = "no-cache";
const HTML: &str = "text/html; charset=utf-8";

/// Everything the UI serves, built once at startup and shared read-only by all workers.
pub struct Site {
    assets: &'static [Asset],
    index: Option<CustomIndex>,
    /// The CSP of the embedded pages.
    csp: String,
    /// The CSP of an `-I` page: only the framing rule. The operator's page is theirs
    /// (ttyd-style pages inline their scripts), so it gets no script restrictions.
    custom_csp: Option<&'static str>,
    allow_embedding: bool,
}

/// The answer to one GET/HEAD. The caller writes the head (status, content type, the
/// length of `body`, `headers`) and, except for HEAD and 304, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a> {
    /// 200, or 304 when `If-None-Match` matched.
    pub status: u16,
    pub content_type: &'static str,
    /// Empty for 304.
    pub body: &'a [u8],
    pub headers: Vec<(&'static str, &'a str)>,
}

impl Site {
    /// `index`: the `-I/--index FILE` page served at `/` instead of the embedded one
    /// (read once here). `allow_embedding`: false ⇒ `X-Frame-Options: DENY` and CSP
    /// `frame-ancestors 'none'`.
    pub fn new(index: Option<&Path>, allow_embedding: bool) -> Result<Site, String> {
        let index = index
            .map(|path| {
                std::fs::read(path)
                    .map_err(|e| format!("-I {}: cannot read the index page: {e}", path.display()))
            })
            .transpose()?;
        Ok(Site::build(ASSETS, USES_WASM, index, allow_embedding))
    }

    /// A site over any asset table (the tests use their own).
    fn build(
        assets: &'static [Asset],
        uses_wasm: bool,
        index: Option<Vec<u8>>,
        allow_embedding: bool,
    ) -> Site {
        Site {
            assets,
            index: index.map(|body| CustomIndex { etag: content_etag(&body), body }),
            csp: csp(allow_embedding, uses_wasm),
            custom_csp: (!allow_embedding).then_some("frame-ancestors 'none'"),
            allow_embedding,
        }
    }

    /// The answer to GET/HEAD of `path` (relative to the base path, starting with '/',
    /// no query), or None when there is no such page or asset.
    /// Whether `path` is a page (HTML) rather than an asset: pages show a session, so
    /// they need a principal; assets are the same for everyone.
    pub fn is_page(&self, path: &str) -> bool {
        path == "/" || self.assets.iter().any(|a| a.path == path && a.html)
    }

    pub fn get(
        &self,
        path: &str,
        accept_encoding: Option<&[u8]>,
        if_none_match: Option<&[u8]>,
    ) -> Option<Page<'_>> {
        if path == "/" {
            if let Some(index) = &self.index {
                return Some(self.custom_index(index, if_none_match));
            }
        }
        let asset = self.assets.iter().find(|a| a.path == path)?;
        let coding = negotiate::choose(
            accept_encoding.unwrap_or_default(),
            asset.brotli.is_some(),
            asset.gzip.is_some(),
        );
        let (variant, content_encoding) = match coding {
            Coding::Brotli => (asset.brotli.as_ref()?, Some("br")),
            Coding::Gzip => (asset.gzip.as_ref()?, Some("gzip")),
            Coding::Identity => (&asset.identity, None),
        };
        let cache = if asset.immutable { CACHE_IMMUTABLE } else { CACHE_REVALIDATE };
        let mut headers = vec![("ETag", variant.etag), ("Cache-Control", cache)];
        // Every embedded asset is negotiated, so caches must key on Accept-Encoding even
        // for the identity answer.
        headers.push(("Vary", "Accept-Encoding"));
        if let Some(coding) = content_encoding {
            headers.push(("Content-Encoding", coding));
        }
        if asset.html {
            self.page_security(&mut headers, &self.csp);
        }
        Some(finish(asset.content_type, variant.body, variant.etag, if_none_match, headers))
    }

    fn custom_index<'a>(&'a self, index: &'a CustomIndex, if_none_match: Option<&[u8]>) -> Page<'a> {
        let mut headers = vec![("ETag", index.etag.as_str()), ("Cache-Control", CACHE_REVALIDATE)];
        if let Some(csp) = self.custom_csp {
            headers.push(("Content-Security-Policy", csp));
        }
        if !self.allow_embedding {
            headers.push(("X-Frame-Options", "DENY"));
        }
        finish(HTML, &index.body, &index.etag, if_none_match, headers)
    }

    fn page_security<'a>(&self, headers: &mut Vec<(&'static str, &'a str)>, csp: &'a str) {
        headers.push(("Content-Security-Policy", csp));
        if !self.allow_embedding {
            headers.push(("X-Frame-Options", "DENY"));
        }
    }
}

/// Status 304 with an empty body when `If-None-Match` names this representation
/// (RFC 9110 §13.1.2, weak comparison); else 200 with the body. A 304 carries the same
/// ETag, Cache-Control and Vary the 200 would have (RFC 9110 §15.4.5).
fn finish<'a>(
    content_type: &'static str,
    body: &'a [u8],
    etag: &str,
    if_none_match: Option<&[u8]>,
    headers: Vec<(&'static str, &'a str)>,
) -> Page<'a> {
    if if_none_match.is_some_and(|inm| etag_matches(inm, etag.as_bytes())) {
        return Page { status: 304, content_type, body: &[], headers };
    }
    Page { status: 200, content_type, body, headers }
}

/// The embedded pages' CSP: our own scripts and styles, inline style attributes (xterm.js
/// positions its layers with them), same-origin fetches and WebSockets (`'self'` matches
/// ws:/wss: on the page's host in CSP Level 3 browsers), images the image addon makes
/// from data: and blob: URLs, and nothing else.
fn csp(allow_embedding: bool, wasm: bool) -> String {
    let mut csp = String::from("default-src 'none'; script-src 'self'");
    if wasm {
        csp.push_str(" 'wasm-unsafe-eval'");
    }
    csp.push_str(
        "; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data: blob:; \
         font-src 'self' data:; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
         object-src 'none'",
    );
    if !allow_embedding {
        csp.push_str("; frame-ancestors 'none'");
    }
    csp
}

/// A strong ETag for the `-I` page from its SHA-256 (the embedded assets get theirs
/// at build time).
fn content_etag(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest.as_ref()[..16] {
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
}
