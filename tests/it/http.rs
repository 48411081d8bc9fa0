//! HTTP/1.1 over real sockets: keep-alive, pipelining, every limit and error status.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::*;

#[test]
fn health_and_metrics_on_one_keep_alive_connection() {
    let server = Server::start(&["--threads", "2"]);
    let mut s = server.connect();
    s.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert!(r.header("server").is_some_and(|v| v.starts_with("ringtty/")));
    let health = r.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["workers"].as_array().unwrap().len(), 2);
    s.write_all(with_auth(&server, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains("ringtty_connections{worker=\"0\"}"), "{text}");
    assert!(text.contains("ringtty_http_responses_total{worker="), "{text}");
    assert!(text.contains("status=\"200\"} "), "{text}");
    assert!(text.contains("# TYPE ringtty_sent_bytes_total counter"), "{text}");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(&[]);
    let mut s = server.connect();
    let batch = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nPOST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    // Also split the batch at odd points so heads straddle reads.
    let batch = with_auth(&server, batch);
    for chunk in batch.as_bytes().chunks(7) {
        s.write_all(chunk).unwrap();
    }
    let statuses: Vec<u16> = [false, false, true, false, false]
        .iter()
        .map(|&head| read_response(&mut s, head).expect("response").status)
        .collect();
    assert_eq!(statuses, [200, 404, 200, 405, 200]);
    assert!(closed_by_peer(&mut s), "Connection: close is honoured");
}

#[test]
fn error_statuses_with_json_reasons() {
    let server = Server::start(&[]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "a".repeat(9000));
    let many_headers = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n", "X-A: 1\r\n".repeat(100));
    let big_head = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000));
    let table: Vec<(String, u16)> = vec![
        ("GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".into(), 404),
        ("DELETE /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".into(), 405),
        ("GARBAGE\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".into(), 400),
        (
            "POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            501,
        ),
        ("POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000\r\n\r\n".into(), 413),
        (long_uri, 414),
        (many_headers, 431),
        (big_head, 431),
        ("GET / HTTP/3.0\r\n\r\n".into(), 505),
    ];
    for (raw, status) in table {
        let r = request(&server, &raw);
        assert_eq!(r.status, status, "{}", &raw[..raw.len().min(60)]);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.json()["error"].is_string());
        if status == 405 {
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
    }
    // The server is still fine.
    assert_eq!(get(&server, "/health").status, 200);
}

#[test]
fn head_has_headers_but_no_body() {
    let server = Server::start(&[]);
    let mut s = server.connect();
    s.write_all(
        b"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .unwrap();
    let head = read_response(&mut s, true).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.header("content-length").unwrap().parse::<usize>().unwrap() > 0);
    // The next response starts right after the head: nothing was sent for HEAD's body.
    let get = read_response(&mut s, false).unwrap();
    assert_eq!(get.status, 200);
    assert_eq!(get.json()["status"], "ok");
}

#[test]
fn expect_100_continue_is_honoured() {
    let server = Server::start(&[]);
    let mut s = server.connect();
    s.write_all(
        b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let interim = read_response(&mut s, false).unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(b"body").unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 405);
    // Too large: refused at once, without 100.
    let mut s = server.connect();
    s.write_all(with_auth(&server, "POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 413);
}

#[test]
fn large_body_spanning_many_reads_keeps_the_pipeline_intact() {
    let server = Server::start(&[]);
    let mut s = server.connect();
    let body = vec![b'x'; 300_000];
    s.write_all(
        format!("POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n", body.len())
            .as_bytes(),
    )
    .unwrap();
    for chunk in body.chunks(10_000) {
        s.write_all(chunk).unwrap();
    }
    s.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 405);
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
}

#[test]
fn slowloris_gets_408_and_is_closed() {
    let server = Server::start(&["--http-head-timeout", "300ms"]);
    let mut s = server.connect();
    s.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").as_bytes())
        .unwrap();
    // Keep dribbling: the deadline is for the whole head, not per read.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        let _ = s.write_all(b"a");
    }
    let r = read_response(&mut s, false).expect("a 408 response");
    assert_eq!(r.status, 408);
    assert!(closed_by_peer(&mut s));
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let server = Server::start(&["--http-idle-timeout", "200ms"]);
    let mut s = server.connect();
    s.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
    assert!(closed_by_peer(&mut s), "idle connection closed by the server");
}

#[test]
fn base_path_prefixes_every_route() {
    let server = Server::start(&["-b", "/tty/"]);
    assert_eq!(get(&server, "/tty/health").status, 200);
    assert_eq!(get(&server, "/tty/metrics").status, 200);
    assert_eq!(get(&server, "/health").status, 404);
    assert_eq!(get(&server, "/ttyhealth").status, 404);
}

#[test]
fn unix_socket_serves_http() {
    let dir = std::env::temp_dir().join(format!("ringtty-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rt.sock");
    let path_str = path.to_str().unwrap().to_owned();
    let mut server = Server::start(&["-i", &path_str, "--threads", "2"]);
    assert_eq!(server.addr, path_str);
    for _ in 0..4 {
        let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(
            with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let r = read_response(&mut s, false).unwrap();
        assert_eq!(r.status, 200);
    }
    server.signal(libc::SIGTERM);
    assert!(server.wait(DEADLINE).success());
    assert!(!path.exists(), "socket file removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connections_spread_over_both_workers() {
    let server = Server::start(&["--threads", "2"]);
    let mut seen = [false; 2];
    for _ in 0..64 {
        let w = get(&server, "/health").json()["worker"].as_u64().unwrap() as usize;
        seen[w] = true;
        if seen == [true, true] {
            return;
        }
    }
    panic!("all 64 connections landed on one worker: {seen:?}");
}

#[test]
fn per_worker_connection_limit_answers_503() {
    let server = Server::start(&["--threads", "1", "--max-connections", "2"]);
    let a = server.connect();
    let b = server.connect();
    // Make sure both are accepted before the third arrives.
    std::thread::sleep(Duration::from_millis(100));
    let r = request(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    drop((a, b));
    let until = std::time::Instant::now() + DEADLINE;
    while request(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").status
        != 200
    {
        assert!(std::time::Instant::now() < until, "capacity never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn garbage_never_takes_the_server_down() {
    let server = Server::start(&["--threads", "1"]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..200 {
        let mut s = server.connect();
        let len = (round * 37) % 3000 + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly printable, with CR/LF and NULs mixed in.
                match seed % 16 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => 0,
                    _ => (seed >> 8) as u8,
                }
            })
            .collect();
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    assert_eq!(get(&server, "/health").status, 200);
}

#[test]
fn descriptors_return_to_baseline() {
    let server = Server::start(&["--threads", "2"]);
    let _ = get(&server, "/health");
    std::thread::sleep(Duration::from_millis(100));
    let baseline = server.fd_count();
    let mut open: Vec<_> = (0..100).map(|_| server.connect()).collect();
    for s in open.iter_mut().take(50) {
        s.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .unwrap();
        assert_eq!(read_response(s, false).unwrap().status, 200);
    }
    for s in open.iter_mut().skip(50).take(25) {
        s.write_all(with_auth(&server, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nPartial: ").as_bytes())
            .unwrap();
    }
    assert!(server.fd_count() >= baseline + 100);
    drop(open);
    let until = std::time::Instant::now() + DEADLINE;
    while server.fd_count() != baseline {
        assert!(std::time::Instant::now() < until, "fds {} != baseline {baseline}", server.fd_count());
        std::thread::sleep(Duration::from_millis(20));
    }
}
