//! Samples a server process from /proc: RSS, CPU time, threads, fds, PTYs in use, child
//! processes and zombies. Reads only; a vanished process is an error, not a panic.

use std::fs;
use std::io;

use serde_json::{json, Value};

/// One reading of the server's resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub rss_kib: u64,
    /// utime + stime of every thread (not of reaped children), in seconds.
    pub cpu_s: f64,
    pub threads: u64,
    pub fds: u64,
    /// fds that point at /dev/ptmx or /dev/pts/*: one master per live session.
    pub ptys: u64,
    /// Processes whose parent is the server.
    pub children: u64,
    /// Of those, the ones in state Z.
    pub zombies: u64,
}

impl Sample {
    pub fn take(pid: u32) -> io::Result<Sample> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let fields = stat_fields(&stat).ok_or_else(|| io::Error::other("unreadable /proc/PID/stat"))?;
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        // `fields` starts at field 3 (state): utime is field 14, stime 15, threads 20.
        let ticks = field(14 - 3) + field(15 - 3);
        let (fds, ptys) = count_fds(pid)?;
        let (children, zombies) = count_children(pid);
        Ok(Sample {
            rss_kib: status_kib(pid, "VmRSS:").unwrap_or(0),
            cpu_s: ticks as f64 / clock_ticks(),
            threads: field(20 - 3),
            fds,
            ptys,
            children,
            zombies,
        })
    }

    /// Field by field maximum (the peak of a run).
    pub fn max(self, o: Sample) -> Sample {
        Sample {
            rss_kib: self.rss_kib.max(o.rss_kib),
            cpu_s: self.cpu_s.max(o.cpu_s),
            threads: self.threads.max(o.threads),
            fds: self.fds.max(o.fds),
            ptys: self.ptys.max(o.ptys),
            children: self.children.max(o.children),
            zombies: self.zombies.max(o.zombies),
        }
    }

    pub fn to_json(self) -> Value {
        json!({
            "rss_kib": self.rss_kib, "cpu_s": round3(self.cpu_s), "threads": self.threads,
            "fds": self.fds, "ptys": self.ptys, "children": self.children, "zombies": self.zombies,
        })
    }

    pub fn brief(self) -> String {
        format!(
            "rss={:.1}MiB cpu={:.2}s thr={} fds={} ptys={} kids={} zombies={}",
            self.rss_kib as f64 / 1024.0,
            self.cpu_s,
            self.threads,
            self.fds,
            self.ptys,
            self.children,
            self.zombies
        )
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The fields after `(comm)`: comm may contain spaces and parentheses, so split after
/// the last `)`.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_ascii_whitespace().collect())
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_ascii_whitespace().next()?.parse().ok()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn count_fds(pid: u32) -> io::Result<(u64, u64)> {
    let (mut fds, mut ptys) = (0, 0);
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(entry) = entry else { continue };
        fds += 1;
        if let Ok(target) = fs::read_link(entry.path()) {
            let t = target.as_os_str().as_encoded_bytes();
            if t == b"/dev/ptmx" || t.starts_with(b"/dev/pts/") {
                ptys += 1;
            }
        }
    }
    Ok((fds, ptys))
}

fn count_children(pid: u32) -> (u64, u64) {
    let (mut children, mut zombies) = (0, 0);
    let Ok(dir) = fs::read_dir("/proc") else { return (0, 0) };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{name}/stat")) else { continue };
        let Some(f) = stat_fields(&stat) else { continue };
        // f[0] is the state (field 3), f[1] the parent pid (field 4).
        if f.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            children += 1;
            if f.first() == Some(&"Z") {
                zombies += 1;
            }
        }
    }
    (children, zombies)
}

/// One thread of this process: its CPU time (user + system), in seconds.
pub fn thread_cpu_s(tid: i32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/self/task/{tid}/stat"))?;
    let fields = stat_fields(&stat).ok_or_else(|| io::Error::other("unreadable /proc/self/task/TID/stat"))?;
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Ok((field(14 - 3) + field(15 - 3)) as f64 / clock_ticks())
}

/// The harness's own CPU time (user + system, every thread), for the raw baseline.
pub fn self_cpu_s() -> f64 {
    // SAFETY: `rusage` is plain integers (two timevals and longs): all zeros is a value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one `rusage` into `ru`, which we own; RUSAGE_SELF is a
    // valid `who`.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = Sample::take(std::process::id()).unwrap();
        assert!(s.rss_kib > 0 && s.threads >= 1 && s.fds >= 1);
    }

    #[test]
    fn comm_with_parens() {
        let f = stat_fields("42 (a) b) S 1 2").unwrap();
        assert_eq!(f, ["S", "1", "2"]);
    }
}
