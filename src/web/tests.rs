use super::negotiate::{choose, etag_matches, Coding};
use super::*;

const PAGE_ETAG: &str = "\"page\"";

/// A table like the one build.rs writes: a page with all codings, a hashed script, and
/// a file compression did not shrink (identity only).
static TEST_ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        immutable: false,
        html: true,
        identity: Variant { body: b"<html>terminal</html>", etag: PAGE_ETAG },
        gzip: Some(Variant { body: b"GZ-PAGE", etag: "\"page-gz\"" }),
        brotli: Some(Variant { body: b"BR-PAGE", etag: "\"page-br\"" }),
    },
    Asset {
        path: "/sessions",
        content_type: HTML,
        immutable: false,
        html: true,
        identity: Variant { body: b"<html>dashboard</html>", etag: "\"dash\"" },
        gzip: Some(Variant { body: b"GZ-DASH", etag: "\"dash-gz\"" }),
        brotli: None,
    },
    Asset {
        path: "/assets/index-AbC123.js",
        content_type: "text/javascript; charset=utf-8",
        immutable: true,
        html: false,
        identity: Variant { body: b"console.log(1)", etag: "\"js\"" },
        gzip: Some(Variant { body: b"GZ-JS", etag: "\"js-gz\"" }),
        brotli: Some(Variant { body: b"BR-JS", etag: "\"js-br\"" }),
    },
    Asset {
        path: "/assets/tiny-X.css",
        content_type: "text/css; charset=utf-8",
        immutable: true,
        html: false,
        identity: Variant { body: b"a{}", etag: "\"css\"" },
        gzip: None,
        brotli: None,
    },
];

fn site() -> Site {
    Site::build(TEST_ASSETS, true, None, false)
}

fn header<'a>(page: &Page<'a>, name: &str) -> Option<&'a str> {
    let mut found = page.headers.iter().filter(|(n, _)| *n == name);
    let value = found.next().map(|(_, v)| *v);
    assert!(found.next().is_none(), "{name} appears twice");
    value
}

#[test]
fn accept_encoding_table() {
    use Coding::*;
    let cases: &[(&str, Coding)] = &[
        ("", Identity),
        ("gzip", Gzip),
        ("br", Brotli),
        ("gzip, deflate, br, zstd", Brotli), // Chromium's value
        ("gzip, deflate, br", Brotli),
        ("deflate", Identity),
        ("BR", Brotli),
        ("x-gzip", Gzip),
        ("br;q=0, gzip", Gzip),
        ("br; q=0 ,gzip", Gzip),
        ("br;Q=0, gzip", Gzip),
        ("br;q=0.5, gzip;q=0.9", Gzip),
        ("br;q=0.9, gzip;q=0.9", Brotli),   // a tie goes to the smaller
        ("gzip;q=1.0, br;q=1.000", Brotli), // both 1000
        ("br;q=0.001", Brotli),
        ("br;q=0.000", Identity),
        ("*", Brotli),
        ("*;q=0.5, br;q=0", Gzip),
        ("gzip;q=0, *", Brotli),
        ("*;q=0", Identity), // everything excluded: identity anyway, not a 406
        ("identity;q=0, gzip;q=0.1", Gzip),
        ("identity, gzip;q=0.5", Identity),
        ("identity;q=0.4, gzip;q=0.5", Gzip),
        // Malformed q-values drop their element only.
        ("br;q=2, gzip", Gzip),
        ("br;q=1.5, gzip", Gzip),
        ("br;q=0.1234, gzip", Gzip),
        ("br;q=, gzip", Gzip),
        ("br;q=abc", Identity),
        ("br;q=-0", Identity),
        // The first mention counts.
        ("br;q=0, br", Identity),
        (",, ,br", Brotli),
        ("br;level=5", Brotli),
        ("\tgzip\t", Gzip),
    ];
    for &(value, want) in cases {
        assert_eq!(choose(value.as_bytes(), true, true), want, "Accept-Encoding: {value:?}");
    }
}

#[test]
fn accept_encoding_only_offers_stored_codings() {
    assert_eq!(choose(b"br", false, true), Coding::Identity);
    assert_eq!(choose(b"br, gzip;q=0.1", false, true), Coding::Gzip);
    assert_eq!(choose(b"br, gzip", false, false), Coding::Identity);
    assert_eq!(choose(b"*", false, true), Coding::Gzip);
}

#[test]
fn accept_encoding_never_panics_on_any_short_input() {
    let alphabet = b"br;q=0.1, *gzipx\t\"W/";
    for a in alphabet {
        for b in alphabet {
            for c in alphabet {
                for d in alphabet {
                    let v = [*a, *b, *c, *d];
                    let _ = choose(&v, true, true);
                    let _ = etag_matches(&v, b"\"x\"");
                }
            }
        }
    }
}

#[test]
fn if_none_match_table() {
    let etag = b"\"abc\"";
    let cases: &[(&str, bool)] = &[
        ("\"abc\"", true),
        ("W/\"abc\"", true), // weak comparison (RFC 9110 §13.1.2)
        ("*", true),
        (" * ", true),
        ("\"xyz\", \"abc\"", true),
        ("\"xyz\",W/\"abc\"", true),
        ("\"a,b\", \"abc\"", true), // a comma inside an opaque tag
        ("\"xyz\"", false),
        ("abc", false),
        ("\"abc", false),
        ("\"ab\"c\"", false),
        ("", false),
        ("\"abcd\"", false),
        ("\"ab\"", false),
        ("w/\"abc\"", false),     // `W/` is case-sensitive
        ("junk, \"abc\"", false), // parsing stops at a malformed element
        (", ,\"abc\"", true),
    ];
    for &(value, want) in cases {
        assert_eq!(etag_matches(value.as_bytes(), etag), want, "If-None-Match: {value:?}");
    }
}

#[test]
fn root_is_the_terminal_page_in_the_best_coding() {
    let site = site();
    let page = site.get("/", Some(b"gzip, deflate, br"), None).unwrap();
    assert_eq!((page.status, page.body, page.content_type), (200, &b"BR-PAGE"[..], HTML));
    assert_eq!(header(&page, "Content-Encoding"), Some("br"));
    assert_eq!(header(&page, "ETag"), Some("\"page-br\""));
    assert_eq!(header(&page, "Vary"), Some("Accept-Encoding"));

    let page = site.get("/", Some(b"gzip"), None).unwrap();
    assert_eq!((page.body, header(&page, "Content-Encoding")), (&b"GZ-PAGE"[..], Some("gzip")));
    assert_eq!(header(&page, "ETag"), Some("\"page-gz\""));

    let page = site.get("/", None, None).unwrap();
    assert_eq!(page.body, b"<html>terminal</html>");
    assert_eq!(header(&page, "Content-Encoding"), None);
    assert_eq!(header(&page, "ETag"), Some(PAGE_ETAG));
    assert_eq!(header(&page, "Vary"), Some("Accept-Encoding"));
}

#[test]
fn missing_codings_fall_back() {
    let site = site();
    let page = site.get("/sessions", Some(b"br"), None).unwrap();
    assert_eq!((page.body, header(&page, "Content-Encoding")), (&b"<html>dashboard</html>"[..], None));
    let page = site.get("/sessions", Some(b"br, gzip"), None).unwrap();
    assert_eq!(header(&page, "Content-Encoding"), Some("gzip"));
    let page = site.get("/assets/tiny-X.css", Some(b"br, gzip"), None).unwrap();
    assert_eq!((page.body, header(&page, "Content-Encoding")), (&b"a{}"[..], None));
}

#[test]
fn etag_revalidation_gives_304_with_the_same_headers() {
    let site = site();
    let full = site.get("/", Some(b"br"), None).unwrap();
    let not_modified = site.get("/", Some(b"br"), Some(b"\"page-br\"")).unwrap();
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.headers, full.headers);

    // Another coding's tag does not validate this representation.
    let page = site.get("/", Some(b"br"), Some(b"\"page-gz\"")).unwrap();
    assert_eq!((page.status, page.body), (200, &b"BR-PAGE"[..]));
    let page = site.get("/", None, Some(b"W/\"page\"")).unwrap();
    assert_eq!(page.status, 304);
    let page = site.get("/assets/index-AbC123.js", Some(b"gzip"), Some(b"*")).unwrap();
    assert_eq!(page.status, 304);
}

#[test]
fn hashed_assets_are_immutable_and_pages_revalidate() {
    let site = site();
    let js = site.get("/assets/index-AbC123.js", Some(b"br"), None).unwrap();
    assert_eq!(header(&js, "Cache-Control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(js.content_type, "text/javascript; charset=utf-8");
    for path in ["/", "/sessions"] {
        let page = site.get(path, None, None).unwrap();
        assert_eq!(header(&page, "Cache-Control"), Some("no-cache"), "{path}");
    }
}

#[test]
fn security_headers() {
    let site = site();
    // nosniff and Referrer-Policy are on every response: http::Head writes them.
    let page = site.get("/", None, None).unwrap();
    assert_eq!(header(&page, "X-Frame-Options"), Some("DENY"));
    let csp = header(&page, "Content-Security-Policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "connect-src 'self'",
        "img-src 'self' data: blob:",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.split("; ").any(|d| d == directive), "{directive:?} missing from {csp:?}");
    }
    assert!(!csp.contains("'unsafe-eval'"));
    // Scripts carry no page policy.
    let js = site.get("/assets/index-AbC123.js", None, None).unwrap();
    assert_eq!(header(&js, "Content-Security-Policy"), None);
    assert_eq!(header(&js, "X-Frame-Options"), None);
}

#[test]
fn wasm_allowance_only_when_a_script_needs_it() {
    let site = Site::build(TEST_ASSETS, false, None, false);
    let page = site.get("/", None, None).unwrap();
    let csp = header(&page, "Content-Security-Policy").unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("wasm"), "{csp}");
}

#[test]
fn allow_embedding_drops_the_frame_rules_only() {
    let site = Site::build(TEST_ASSETS, true, None, true);
    let page = site.get("/", None, None).unwrap();
    assert_eq!(header(&page, "X-Frame-Options"), None);
    let csp = header(&page, "Content-Security-Policy").unwrap();
    assert!(!csp.contains("frame-ancestors"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[test]
fn unknown_paths_are_none() {
    let site = site();
    for path in
        ["/index.html", "/sessions/", "/sessions.html", "/assets/", "/assets/nope.js", "", "/ ", "/api"]
    {
        assert!(site.get(path, None, None).is_none(), "{path:?}");
    }
}

#[test]
fn custom_index_replaces_the_root_only() {
    let site = Site::build(TEST_ASSETS, true, Some(b"<script>inline()</script>".to_vec()), false);
    let page = site.get("/", Some(b"br"), None).unwrap();
    assert_eq!((page.status, page.body, page.content_type), (200, &b"<script>inline()</script>"[..], HTML));
    assert_eq!(header(&page, "Content-Encoding"), None);
    // The operator's page may inline scripts: only framing is restricted.
    assert_eq!(header(&page, "Content-Security-Policy"), Some("frame-ancestors 'none'"));
    assert_eq!(header(&page, "X-Frame-Options"), Some("DENY"));
    assert_eq!(header(&page, "Cache-Control"), Some("no-cache"));
    let etag = header(&page, "ETag").unwrap();
    assert!(etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(site.get("/", None, Some(etag.as_bytes())).unwrap().status, 304);
    // The dashboard and assets are still the embedded ones.
    assert_eq!(site.get("/sessions", None, None).unwrap().body, b"<html>dashboard</html>");

    let embeddable = Site::build(TEST_ASSETS, false, Some(b"x".to_vec()), true);
    let page = embeddable.get("/", None, None).unwrap();
    assert_eq!(header(&page, "Content-Security-Policy"), None);
    assert_eq!(header(&page, "X-Frame-Options"), None);
}

#[test]
fn custom_index_read_error_is_one_line() {
    let err = Site::new(Some(Path::new("/nonexistent/ringtty/index.html")), false).err().unwrap();
    assert!(err.starts_with("-I /nonexistent/ringtty/index.html: cannot read the index page: "), "{err}");
    assert!(!err.contains('\n'));
}

#[test]
fn custom_index_etag_follows_content() {
    assert_ne!(content_etag(b"a"), content_etag(b"b"));
    assert_eq!(content_etag(b"a"), content_etag(b"a"));
}

/// The real table: the three pages exist under the CSP, and every asset a page refers
/// to is embedded.
#[cfg(feature = "web")]
#[test]
fn embedded_pages_refer_only_to_embedded_assets() {
    let site = Site::new(None, false).unwrap();
    for page_path in ["/", "/sessions", "/login"] {
        let page = site.get(page_path, None, None).unwrap();
        assert_eq!(page.content_type, HTML);
        assert!(header(&page, "Content-Security-Policy").is_some_and(|c| c.contains("script-src 'self'")));
        let html = std::str::from_utf8(page.body).unwrap();
        let refs: Vec<&str> = html.split("\"./assets/").skip(1).map(|r| &r[..r.find('"').unwrap()]).collect();
        assert!(refs.iter().any(|r| r.ends_with(".js")), "{page_path} loads no script: {html}");
        for r in refs {
            let asset = site.get(&format!("/assets/{r}"), Some(b"br"), None);
            assert!(asset.is_some_and(|a| a.status == 200), "{page_path} refers to missing ./assets/{r}");
        }
    }
}
