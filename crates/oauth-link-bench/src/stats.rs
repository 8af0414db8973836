//! Latency and throughput summaries.

use std::time::Duration;

/// What one timed run of `n` calls produced.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Calls that succeeded.
    pub ok: usize,
    /// Calls that failed.
    pub errors: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Per-call latencies in nanoseconds, sorted ascending.
    pub latencies_ns: Vec<u64>,
    /// Process CPU time (user + system, client and in-process sandbox) spent in the run.
    pub cpu: Duration,
}

impl RunStats {
    /// Builds the summary; sorts `latencies_ns`.
    pub fn new(ok: usize, errors: usize, elapsed: Duration, mut latencies_ns: Vec<u64>) -> Self {
        latencies_ns.sort_unstable();
        Self { ok, errors, elapsed, latencies_ns, cpu: Duration::ZERO }
    }

    /// Successful calls per second.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Latency at percentile `p` (0..=100), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_ns, p) as f64 / 1e6
    }
}

/// Nearest-rank percentile of an ascending slice (`p` in 0..=100); 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some values (mean of the two middle ones for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`
/// (clock-tick resolution, 10 ms); zero where unavailable.
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Peak resident set size of this process (`VmHWM`), in bytes; 0 where unavailable.
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 95.0), 10);
        assert_eq!(percentile(&ten, 90.0), 9);
    }

    #[test]
    fn run_stats_sort_and_rate() {
        let s = RunStats::new(4, 0, Duration::from_secs(2), vec![4_000_000, 1_000_000, 3_000_000, 2_000_000]);
        assert_eq!(s.latencies_ns, vec![1_000_000, 2_000_000, 3_000_000, 4_000_000]);
        assert!((s.ops_per_sec() - 2.0).abs() < 1e-9);
        assert!((s.percentile_ms(50.0) - 2.0).abs() < 1e-9);
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes() > 0);
        }
    }
}
