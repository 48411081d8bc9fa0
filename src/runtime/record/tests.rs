//! The recorder without a server: the directory checks, the file's mode and its
//! refusal of a planted path, and a tap's events reaching the file through the writer.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringtty-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

fn cfg(dir: &Path, max: u64) -> config::Record {
    config::Record { dir: dir.to_owned(), all: true, max }
}

fn sync(r: &Recorder, rec: &Arc<Recording>) -> u64 {
    crate::rt::start(async { r.sync(rec).await.unwrap() })
}

#[test]
fn the_directory_is_checked_with_a_reason_naming_the_flag() {
    let d = dir("check");
    start(&cfg(&d, 1 << 20)).unwrap().finish(Duration::from_secs(1));
    let missing = d.join("missing");
    let e = start(&cfg(&missing, 1 << 20)).err().unwrap();
    assert!(e.starts_with("--record ") && e.contains("no such directory") && e.contains("mkdir"), "{e}");
    let file = d.join("file");
    std::fs::write(&file, b"").unwrap();
    let e = start(&config::Record { all: false, ..cfg(&file, 1 << 20) }).err().unwrap();
    assert!(e.starts_with("--record-dir ") && e.contains("not a directory"), "{e}");
    let open = d.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = start(&cfg(&open, 1 << 20)).err().unwrap();
    assert!(e.contains("sticky") && e.contains("chmod"), "{e}");
    // /tmp's mode: world-writable with the sticky bit.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    start(&cfg(&open, 1 << 20)).unwrap().finish(Duration::from_secs(1));
    if rustix::process::geteuid().is_root() {
        return; // root may write anywhere
    }
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    let e = start(&cfg(&ro, 1 << 20)).err().unwrap();
    assert!(e.contains("not writable"), "{e}");
}

#[test]
fn a_recording_is_mode_0600_and_a_planted_path_is_refused() {
    let d = dir("create");
    let r = start(&cfg(&d, 1 << 20)).unwrap();
    let tap = r.create("abc", "xterm-256color", None, 0).unwrap();
    let meta = std::fs::symlink_metadata(d.join("abc.cast")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    drop(tap);
    // A symlink planted where a recording will go (to a file the server's user could
    // write, or to nothing) is not followed.
    let target = d.join("victim");
    std::fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::symlink(&target, d.join("s1.cast")).unwrap();
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("s2.cast")).unwrap();
    for id in ["s1", "s2", "abc"] {
        let e = r.create(id, "xterm", None, 0).err().unwrap();
        assert!(e.contains("cannot create the session's recording") && e.contains("--record"), "{e}");
    }
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    assert!(!d.join("nowhere").exists());
    // Nor is a planted file reopened by a live upgrade.
    assert!(r.reopen("s1", 0, true).is_none());
    r.finish(Duration::from_secs(1));
}

#[test]
fn a_taps_events_reach_the_file_and_its_end_is_marked() {
    let d = dir("events");
    let r = start(&cfg(&d, 1 << 20)).unwrap();
    let mut tap = r.create("s", "xterm-256color", Some("t".into()), 1_700_000_000_500).unwrap();
    tap.on_attach(0, WinSize { cols: 80, rows: 24 }, Millis(1000));
    tap.on_output(0, "héllo ".as_bytes(), Millis(1000));
    tap.on_output(6, &[0xE2, 0x82], Millis(1100));
    tap.on_output(8, &[0xAC, b'!'], Millis(1200));
    tap.on_resize(WinSize { cols: 100, rows: 30 }, 10, Millis(1300));
    let rec = r.find("s").unwrap();
    let size = sync(&r, &rec);
    let text = std::fs::read_to_string(d.join("s.cast")).unwrap();
    assert_eq!(size, text.len() as u64);
    assert_eq!(rec.describe(), serde_json::json!({"bytes": size, "truncated": false}));
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["width"], 80);
    assert_eq!(lines[0]["timestamp"], 1_700_000_000u64);
    let out: String = lines[1..].iter().filter(|e| e[1] == "o").map(|e| e[2].as_str().unwrap()).collect();
    assert_eq!(out, "héllo €!");
    assert_eq!(lines.last().unwrap()[2], "100x30");
    // Read back through the writer thread, in chunks.
    let got = crate::rt::start(async { r.read(&rec, 5, 10).await.unwrap().unwrap() });
    assert_eq!(got, &text.as_bytes()[5..15]);
    // Dropped before the session's exit (a shutdown): a marker says so.
    drop(tap);
    let size = sync(&r, &rec);
    let text = std::fs::read_to_string(d.join("s.cast")).unwrap();
    assert_eq!(size, text.len() as u64);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((last[1].as_str(), last[2].as_str()), (Some("m"), Some(STOPPED)));
    assert!(r.find("s").is_none(), "unlisted with its session");
    r.finish(Duration::from_secs(1));
}

#[test]
fn the_cap_truncates_with_a_marker_and_says_so() {
    let d = dir("cap");
    let r = start(&cfg(&d, 4096)).unwrap();
    let mut tap = r.create("c", "xterm", None, 0).unwrap();
    tap.on_attach(0, WinSize { cols: 80, rows: 24 }, Millis(0));
    for i in 0..100 {
        tap.on_output(i * 100, &[b'x'; 100], Millis(i));
    }
    let rec = r.find("c").unwrap();
    let size = sync(&r, &rec);
    assert!(size <= 4096, "{size}");
    assert_eq!(rec.describe()["truncated"], true);
    let text = std::fs::read_to_string(d.join("c.cast")).unwrap();
    assert!(text.lines().last().unwrap().contains("--record-max"), "{text}");
    tap.on_exit(ExitStatus { code: Some(0), signal: None }, 0, Millis(200));
    drop(tap);
    r.finish(Duration::from_secs(1));
}

#[test]
fn a_handed_over_recording_is_appended_to_by_the_next_process() {
    let d = dir("handover");
    let old = start(&cfg(&d, 1 << 20)).unwrap();
    let mut tap = old.create("h", "xterm", None, 1_000_000).unwrap();
    tap.on_attach(0, WinSize { cols: 80, rows: 24 }, Millis(0));
    tap.on_output(0, b"before ", Millis(10));
    let rec = old.hand_over("h").unwrap();
    drop(tap);
    old.wait_written(&rec);
    let new = start(&cfg(&d, 1 << 20)).unwrap();
    let mut tap = new.reopen("h", 1_000_000, true).unwrap();
    tap.on_attach(7, WinSize { cols: 80, rows: 24 }, Millis(5));
    tap.on_output(7, b"after", Millis(6));
    tap.on_exit(ExitStatus { code: Some(0), signal: None }, 12, Millis(7));
    let rec = new.find("h").unwrap();
    let size = sync(&new, &rec);
    let text = std::fs::read_to_string(d.join("h.cast")).unwrap();
    assert_eq!(size, text.len() as u64);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().filter(|l| l.is_object()).count(), 1, "one header: {text}");
    let out: String = lines[1..].iter().filter(|e| e[1] == "o").map(|e| e[2].as_str().unwrap()).collect();
    assert_eq!(out, "before after");
    assert!(lines[1..].iter().all(|e| e[1] != "m"), "{text}");
    drop(tap);
    new.finish(Duration::from_secs(1));
    old.finish(Duration::from_secs(1));
}

#[test]
fn a_writer_that_falls_behind_truncates_with_a_marker_and_memory_stays_bounded() {
    let d = dir("lag");
    // No writer thread: nothing pending is ever written, as with a stuck disk.
    let r = Recorder {
        cfg: cfg(&d, 1 << 30),
        inner: Arc::new(Inner {
            queue: Mutex::default(),
            wake: Condvar::new(),
            pending: AtomicUsize::new(0),
            sessions: Mutex::default(),
        }),
        thread: Mutex::new(None),
    };
    let mut tap = r.create("lag", "xterm", None, 0).unwrap();
    tap.on_attach(0, WinSize { cols: 80, rows: 24 }, Millis(0));
    let chunk = vec![b'y'; 64 << 10];
    for i in 0..200 {
        tap.on_output(i * chunk.len() as u64, &chunk, Millis(i));
    }
    let rec = r.find("lag").unwrap();
    assert_eq!(rec.describe()["truncated"], true);
    let pending = std::mem::take(&mut lock(&rec.pending).bytes);
    assert!(pending.len() <= LAG_PER_RECORDING + 256, "{} bytes held", pending.len());
    assert_eq!(r.inner.pending.load(Relaxed), pending.len());
    let text = String::from_utf8(pending).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((last[1].as_str(), last[2].as_str()), (Some("m"), Some(LAGGED)));
    assert_eq!(text.matches(LAGGED).count(), 1, "one marker");
    // The session's exit after it adds nothing.
    let before = lock(&rec.pending).bytes.len();
    tap.on_exit(ExitStatus { code: Some(0), signal: None }, 0, Millis(500));
    assert_eq!(lock(&rec.pending).bytes.len(), before);
}
