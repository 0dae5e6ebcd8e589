//! Output: a human table on stderr as steps finish, and one machine line on stdout at the
//! end, `RESULT {json}`, which a suite script greps for and aggregates.

use crate::fleet::StepResult;

pub fn step_header() {
    eprintln!(
        "{:>4} {:>9} {:>8} {:>9} {:>11} {:>7} {:>7} {:>8} {:>8} {:>6} {:>5} {:>7} {:>6} {:>7} {:>8} {:>7} {:>5}  verdict",
        "step",
        "offered/s",
        "acked/s",
        "deliv'd",
        "delivered/s",
        "p50ms",
        "p99ms",
        "p99.9ms",
        "ack_p99",
        "lost",
        "err",
        "lag_p99",
        "lg_cpu",
        "srv_cpu",
        "srv_us/m",
        "srv_MiB",
        "box",
    );
}

pub fn step_row(r: &StepResult) {
    let (srv_cpu, srv_rss) = r.server.as_ref().map_or(("-".into(), "-".into()), |s| {
        (format!("{:.0}%", s.cores * 100.0), format!("{:.0}", s.rss_mib))
    });
    let per = r.server_cpu_us_per_delivered.map_or("-".into(), |v| format!("{v:.1}"));
    let verdict = if !r.valid {
        format!("INVALID ({})", r.invalid_reasons.join("; "))
    } else if r.pass {
        "pass".into()
    } else {
        format!("FAIL ({})", r.fail_reasons.join("; "))
    };
    eprintln!(
        "{:>4} {:>9.1} {:>8.1} {:>9} {:>11.1} {:>7.2} {:>7.2} {:>8.2} {:>8.2} {:>6} {:>5} {:>7.2} {:>5.0}% {:>7} {:>8} {:>7} {:>5}  {verdict}",
        r.step,
        r.offered_per_s,
        r.acked_per_s,
        r.delivered,
        r.delivered_per_s,
        r.latency.p50_ms,
        r.latency.p99_ms,
        r.latency.p999_ms,
        r.ack_latency.p99_ms,
        r.lost,
        r.errors,
        r.schedule_lag.p99_ms,
        r.loadgen.max_shard_busy * 100.0,
        srv_cpu,
        per,
        srv_rss,
        r.machine_busy_cores
            .map_or("-".into(), |c| format!("{:.0}%", c * 100.0 / cores())),
    );
    for reason in r.disconnect_reasons.iter().take(3) {
        eprintln!("      dropped socket: {reason}");
    }
}

/// CPUs this process may run on, for the machine-busy column.
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// Prints the final machine-readable line.
pub fn result(value: &serde_json::Value) {
    println!("RESULT {value}");
}
