//! Request-head parsing and response-head writing: the per-request CPU of the HTTP layer.
//! Run: `cargo bench --bench http`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringtty::http::{self, Head, HttpDate, Limits, Parse};

const SMALL: &[u8] =
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:7681\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n";

/// What a browser sends to open a WebSocket: the realistic worst common case.
const BROWSER: &[u8] = b"GET /api/sessions/abcdefghijklmnop/ws?since=12345 HTTP/1.1\r\n\
Host: term.example.com\r\nConnection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36\r\n\
Upgrade: websocket\r\nOrigin: https://term.example.com\r\nSec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\
Cookie: ringtty_token=eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTUwMDAwMDB9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ringtty.v1\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

fn parse_head(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("http_parse");
    for (name, input) in [("small", SMALL), ("browser_ws_upgrade", BROWSER)] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                match http::parse(std::hint::black_box(input), &mut headers, &limits) {
                    Ok(Parse::Complete(r)) => r.head_len,
                    _ => unreachable!(),
                }
            })
        });
    }
    g.finish();
}

fn write_head(c: &mut Criterion) {
    let date = HttpDate::from_unix(1_795_000_000);
    c.bench_function("http_write_head", |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(512),
            |out| {
                out.clear();
                Head {
                    status: 200,
                    content_type: "application/json",
                    content_length: 164,
                    keep_alive: true,
                    extra: &[("Cache-Control", "no-store")],
                    hsts: false,
                }
                .write(&date, out);
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("http_date_format", |b| {
        b.iter(|| HttpDate::from_unix(std::hint::black_box(1_795_000_000)))
    });
}

criterion_group!(benches, parse_head, write_head);
criterion_main!(benches);
