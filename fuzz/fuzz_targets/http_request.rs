//! The HTTP request-head parser on arbitrary bytes: never panics; `head_len <= len`;
//! a complete head parses the same when more bytes follow it (pipelining), and every
//! strict prefix of a complete head is `Partial` — nothing is consumed early and no
//! error is reported for bytes that would have completed a valid head.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringtty::http::{parse, Limits, Parse};

fn head_len(buf: &[u8], limits: &Limits) -> Result<Option<(usize, u64, bool)>, ringtty::http::HttpError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    match parse(buf, &mut headers, limits)? {
        Parse::Partial => Ok(None),
        Parse::Complete(r) => Ok(Some((r.head_len, r.content_length, r.keep_alive))),
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_head_bytes: 2048, max_headers: 16, max_uri_bytes: 512, max_body_bytes: 1 << 20 };
    let whole = head_len(data, &limits);
    let Ok(Some((n, cl, ka))) = whole else { return };
    assert!(n <= data.len() && n <= limits.max_head_bytes);
    // The same head alone parses identically.
    assert_eq!(head_len(&data[..n], &limits), Ok(Some((n, cl, ka))));
    // Every strict prefix is Partial.
    for cut in 0..n {
        assert_eq!(head_len(&data[..cut], &limits), Ok(None), "prefix {cut} of {n}");
    }
});
