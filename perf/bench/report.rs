//! What a run found: latency distributions, counters and server samples, printed as a
//! table for humans and written as JSON (perf/README.md documents the fields).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::procfs::{round3, Sample};

/// Latency samples in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.0.push(d.as_nanos().min(u64::MAX as u128) as u64);
    }

    pub fn extend(&mut self, other: &Latencies) {
        self.0.extend_from_slice(&other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// count, min, mean, p50, p95, p99, p99.9, max (microseconds).
    pub fn stats(&self) -> Option<Stats> {
        let mut v = self.0.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let q = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1] as f64 / 1e3;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1e3;
        Some(Stats {
            count: v.len(),
            min: v[0] as f64 / 1e3,
            mean,
            p50: q(0.50),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: v[v.len() - 1] as f64 / 1e3,
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub count: usize,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Stats {
    fn to_json(self) -> Value {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        json!({
            "count": self.count, "min": r(self.min), "mean": r(self.mean), "p50": r(self.p50),
            "p95": r(self.p95), "p99": r(self.p99), "p99_9": r(self.p999), "max": r(self.max),
        })
    }
}

/// Errors by kind, e.g. `"create: HTTP 503"`.
#[derive(Debug, Default, Clone)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    pub fn add(&mut self, kind: impl Into<String>) {
        *self.0.entry(kind.into()).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn merge(&mut self, o: &Errors) {
        for (k, v) in &o.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }
}

/// The server's resources over the run (with --pid).
#[derive(Debug, Clone, Copy)]
pub struct ServerStats {
    pub before: Sample,
    pub after: Sample,
    pub peak: Sample,
}

pub struct Report {
    pub scenario: &'static str,
    /// `native`, `tty` or `raw pty`.
    pub mode: &'static str,
    pub target: String,
    pub params: Map<String, Value>,
    /// name, value, unit: in the order they are printed.
    pub results: Vec<(String, Value, &'static str)>,
    pub latencies: Vec<(String, Latencies)>,
    pub errors: Errors,
    pub server: Option<ServerStats>,
    pub elapsed: Duration,
    /// The scenario's own verdict (churn: the leak check), when it has one.
    pub verdict: Option<String>,
    /// JSON only: series sampled during the run (churn: `rss_trend`).
    pub series: Map<String, Value>,
}

impl Report {
    pub fn new(scenario: &'static str, mode: &'static str, target: String) -> Report {
        Report {
            scenario,
            mode,
            target,
            params: Map::new(),
            results: Vec::new(),
            latencies: Vec::new(),
            errors: Errors::default(),
            server: None,
            elapsed: Duration::ZERO,
            verdict: None,
            series: Map::new(),
        }
    }

    pub fn param(&mut self, k: &str, v: impl Into<Value>) {
        self.params.insert(k.into(), v.into());
    }

    pub fn result(&mut self, k: &str, v: impl Into<Value>, unit: &'static str) {
        self.results.push((k.into(), v.into(), unit));
    }

    pub fn to_json(&self) -> Value {
        let results: Map<String, Value> =
            self.results.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
        let units: Map<String, Value> =
            self.results.iter().filter(|r| !r.2.is_empty()).map(|(k, _, u)| (k.clone(), json!(u))).collect();
        let lat: Map<String, Value> =
            self.latencies.iter().filter_map(|(k, l)| Some((k.clone(), l.stats()?.to_json()))).collect();
        let errors: Map<String, Value> = self.errors.0.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let server = self.server.map(|s| {
            json!({
                "before": s.before.to_json(), "after": s.after.to_json(), "peak": s.peak.to_json(),
                "cpu_s": round3(s.after.cpu_s - s.before.cpu_s),
            })
        });
        json!({
            "scenario": self.scenario,
            "mode": self.mode,
            "target": self.target,
            "params": self.params,
            "elapsed_s": round3(self.elapsed.as_secs_f64()),
            "results": results,
            "units": units,
            "latency_us": lat,
            "errors": self.errors.total(),
            "errors_by_kind": errors,
            "server": server,
            "verdict": self.verdict,
            "series": self.series,
            "version": env!("CARGO_PKG_VERSION"),
        })
    }

    pub fn print_table(&self) {
        let params: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={}", plain(v))).collect();
        println!("{} [{}] {}  ({})", self.scenario, self.mode, self.target, params.join(" "));
        println!("  elapsed {:.2} s", self.elapsed.as_secs_f64());
        if self.latencies.iter().any(|(_, l)| l.len() > 0) {
            println!(
                "  {:<18} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency (µs)", "count", "p50", "p95", "p99", "p99.9", "max", "mean"
            );
            for (name, l) in &self.latencies {
                let Some(s) = l.stats() else { continue };
                println!(
                    "  {:<18} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                    name, s.count, s.p50, s.p95, s.p99, s.p999, s.max, s.mean
                );
            }
        }
        for (k, v, unit) in &self.results {
            println!("  {:<36} {:>14} {}", k, plain(v), unit);
        }
        println!("  {:<36} {:>14}", "errors", self.errors.total());
        for (k, v) in &self.errors.0 {
            println!("    {k}: {v}");
        }
        if let Some(s) = self.server {
            // With --raw the sampled process is the harness itself (churn).
            let who = if self.mode == "raw pty" { "harness" } else { "server" };
            println!("  {who} {:<8} {}", "before", s.before.brief());
            println!("  {who} {:<8} {}", "peak", s.peak.brief());
            println!("  {who} {:<8} {}", "after", s.after.brief());
            println!("  {who} cpu during run      {:>14.3} s", s.after.cpu_s - s.before.cpu_s);
        }
        if let Some(v) = &self.verdict {
            println!("  verdict: {v}");
        }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut l = Latencies::default();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let s = l.stats().unwrap();
        assert_eq!((s.count, s.p50, s.p99, s.p999, s.max), (1000, 500.0, 990.0, 999.0, 1000.0));
        assert!(Latencies::default().stats().is_none());
    }
}
