//! Latency histograms and their summaries, and the CPU this process (or one of its
//! threads) has used, from `getrusage`.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Largest latency a histogram holds exactly (60 s, in microseconds); longer ones are
/// clamped to it, which is still far past any pass/fail threshold.
const MAX_MICROS: u64 = 60_000_000;

/// A histogram of microseconds with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; a failure here is a bug.
    #[allow(clippy::unwrap_used)]
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap()
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(micros.max(1));
}

pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record((ns / 1_000).max(1));
}

/// Percentiles of one histogram, in milliseconds (what the tables and the suite use).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1_000.0,
        }
    }
}

/// Merges `from` into `into`; both come from [`histogram`], so the bounds always match.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        // Unreachable with equal bounds; fall back to copying value by value.
        for v in from.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// User + system CPU time, from `getrusage(who)`.
fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes the struct we hand it; zeroed is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU used by this whole process so far (every thread).
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// CPU used by the calling thread so far.
pub fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// Raises the open-file limit to the hard limit: every socket is a descriptor, and the
/// usual soft limit of 1024 stops an idle run long before 10,000 connections.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write only the struct we pass.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            let _ = libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
        limit.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reads_percentiles_in_milliseconds() {
        let mut h = histogram();
        for micros in 1..=1000u64 {
            h.record(micros * 10).unwrap_or_default();
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 5.0).abs() < 0.01, "{s:?}");
        assert!((s.p99_ms - 9.9).abs() < 0.01, "{s:?}");
        assert!((s.p999_ms - 9.99).abs() < 0.01, "{s:?}");
        assert!((s.max_ms - 10.0).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn an_empty_histogram_summarises_to_zeros_and_merging_adds_counts() {
        assert_eq!(Summary::of(&histogram()), Summary::default());
        let mut a = histogram();
        let mut b = histogram();
        record(&mut a, Duration::from_millis(2));
        record_ns(&mut b, 3_000_000);
        record(&mut b, Duration::from_secs(3600));
        merge(&mut a, &b);
        let s = Summary::of(&a);
        assert_eq!(s.count, 3);
        assert!(
            s.max_ms >= 59_000.0,
            "overlong latencies are clamped, not dropped: {s:?}"
        );
    }

    #[test]
    fn this_thread_has_used_some_cpu() {
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu() >= thread_cpu());
    }
}
