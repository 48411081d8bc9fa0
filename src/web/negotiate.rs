//! Content-coding negotiation (`Accept-Encoding`) and `If-None-Match` matching.
//! Both read attacker-controlled header bytes: no allocation, no panics, and anything
//! malformed counts as "not mentioned" rather than an error.

/// The content codings the UI's assets are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
    Identity,
}

/// The best coding for an `Accept-Encoding` value (RFC 9110 §12.5.3):
///
/// ```text
/// Accept-Encoding = #( codings [ weight ] )
/// codings         = content-coding / "identity" / "*"
/// weight          = OWS ";" OWS "q=" qvalue
/// ```
///
/// The highest q-value among the codings we have wins; ties go br > gzip > identity
/// (smallest first). `q=0` excludes a coding; `*` stands for every coding not named.
/// No header means identity: any coding would be allowed, but a client that sends no
/// `Accept-Encoding` (curl, scripts) usually wants the bytes as they are. When the client
/// excludes everything we have, identity is sent anyway: RFC 9110 allows that instead of
/// a 406, and a page is more use than an error.
pub(crate) fn choose(accept_encoding: &[u8], have_brotli: bool, have_gzip: bool) -> Coding {
    let (mut br, mut gzip, mut identity, mut star) = (None, None, None, None);
    for element in accept_encoding.split(|&b| b == b',') {
        let mut parts = element.split(|&b| b == b';');
        let name = trim(parts.next().unwrap_or_default());
        if name.is_empty() {
            continue; // `#rule` allows empty list elements
        }
        let Some(q) = weight(parts) else { continue };
        // The first mention of a coding counts; repeats are ignored.
        let slot = if name.eq_ignore_ascii_case(b"br") {
            &mut br
        } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
            &mut gzip
        } else if name.eq_ignore_ascii_case(b"identity") {
            &mut identity
        } else if name == b"*" {
            &mut star
        } else {
            continue;
        };
        slot.get_or_insert(q);
    }
    let br = if have_brotli { br.or(star).unwrap_or(0) } else { 0 };
    let gzip = if have_gzip { gzip.or(star).unwrap_or(0) } else { 0 };
    // Identity is acceptable unless excluded by name or by `*;q=0` (RFC 9110 §12.5.3),
    // but unnamed it carries no preference: any coding the client did name wins.
    let identity = identity.or(star).unwrap_or(1);
    let mut best = (Coding::Identity, 0);
    for (coding, q) in [(Coding::Brotli, br), (Coding::Gzip, gzip), (Coding::Identity, identity)] {
        if q > best.1 {
            best = (coding, q);
        }
    }
    best.0
}

/// The q-value of one list element's parameters, in thousandths; 1000 when absent.
/// None when a q parameter is malformed (the element is then ignored).
fn weight<'a>(params: impl Iterator<Item = &'a [u8]>) -> Option<u16> {
    let mut q = 1000;
    for param in params {
        let param = trim(param);
        if param.len() >= 2 && param[..2].eq_ignore_ascii_case(b"q=") {
            q = qvalue(&param[2..])?;
        }
    }
    Some(q)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (RFC 9110 §12.4.2).
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether an `If-None-Match` value names `etag` (given with its quotes), by the weak
/// comparison RFC 9110 §13.1.2 prescribes for it: `W/` prefixes are ignored.
///
/// ```text
/// If-None-Match = "*" / #entity-tag
/// entity-tag    = [ "W/" ] DQUOTE *etagc DQUOTE
/// ```
///
/// A comma may appear inside an opaque tag, so the list is scanned quote by quote rather
/// than split on commas. Parsing stops at the first malformed element.
pub(crate) fn etag_matches(if_none_match: &[u8], etag: &[u8]) -> bool {
    if trim(if_none_match) == b"*" {
        return true;
    }
    let mut rest = if_none_match;
    loop {
        rest = trim_start(rest);
        while let [b',', tail @ ..] = rest {
            rest = trim_start(tail);
        }
        if rest.is_empty() {
            return false;
        }
        if rest.starts_with(b"W/") {
            rest = &rest[2..];
        }
        let [b'"', tail @ ..] = rest else { return false };
        let Some(close) = tail.iter().position(|&b| b == b'"') else { return false };
        if &rest[..close + 2] == etag {
            return true;
        }
        rest = &tail[close + 1..];
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let b = trim_start(b);
    let end = b.iter().rposition(|c| !matches!(c, b' ' | b'\t')).map_or(0, |i| i + 1);
    &b[..end]
}

fn trim_start(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t')).unwrap_or(b.len());
    &b[start..]
}
