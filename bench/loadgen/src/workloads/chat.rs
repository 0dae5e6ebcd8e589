//! The chat workloads: `fanout`, `mixed`, `bigroom` and `persist` (one rate, or stepped up to the
//! knee) and `login` (a fixed rate alone, then during a login storm). They differ only in
//! the fleet's shape, the default rate and what a step must show to pass.

use crate::cli::{ChatArgs, Common, LoginArgs};
use crate::fleet::{Criterion, Fleet, Layout, StepResult};
use crate::report;
use crate::stats::{self, Summary};
use crate::target::Target;
use crate::users;
use crate::workloads::search::{Outcome, RateSearch};
use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A workload's defaults for the options left unset.
pub struct Defaults {
    pub rooms: usize,
    pub members: usize,
    pub senders: usize,
    pub rate: f64,
    pub step_secs: f64,
    /// Judge by ack latency (persist) instead of delivery latency.
    pub by_ack: bool,
    /// Every this-many-th frame of a sender is a change instead of a message (0: none).
    pub changes_every: u64,
}

pub const FANOUT: Defaults = Defaults {
    rooms: 100,
    members: 20,
    senders: 1,
    rate: 100.0,
    step_secs: 5.0,
    by_ack: false,
    changes_every: 0,
};

/// Fanout's shape, with one frame in five a change (the knee counts both).
pub const MIXED: Defaults = Defaults {
    changes_every: 5,
    ..FANOUT
};

pub const BIGROOM: Defaults = Defaults {
    rooms: 1,
    members: 2_000,
    senders: 10,
    rate: 100.0,
    step_secs: 10.0,
    by_ack: false,
    changes_every: 0,
};

pub const PERSIST: Defaults = Defaults {
    rooms: 100,
    members: 4,
    senders: 4,
    rate: 100.0,
    step_secs: 5.0,
    by_ack: true,
    changes_every: 0,
};

pub const LOGIN: Defaults = Defaults {
    rate: 500.0,
    step_secs: 10.0,
    ..FANOUT
};

/// The options after defaults are applied.
pub(crate) struct Resolved {
    pub layout: Layout,
    pub rate: f64,
    pub secs: f64,
    pub grace: Duration,
    pub criterion: Criterion,
}

pub(crate) fn resolve(args: &ChatArgs, d: &Defaults) -> Resolved {
    let slo = args.slo_p99_ms.unwrap_or(50.0);
    Resolved {
        layout: Layout {
            rooms: args.rooms.unwrap_or(d.rooms).max(1),
            members: args.members.unwrap_or(d.members).max(1),
            senders: args.senders.unwrap_or(d.senders),
            conns_per_user: args.conns_per_user.unwrap_or(10).max(1),
            body_bytes: args.body_bytes,
            changes_every: args.changes_every.unwrap_or(d.changes_every),
        },
        rate: args.rate.unwrap_or(d.rate),
        secs: args.step_secs.unwrap_or(d.step_secs),
        grace: Duration::from_secs_f64(args.grace_secs.max(0.0)),
        criterion: if d.by_ack {
            Criterion::Ack { p99_ms: slo }
        } else {
            Criterion::Delivery { p99_ms: slo }
        },
    }
}

pub(crate) async fn warm_up(fleet: &Fleet, rate: f64, secs: f64, grace: Duration) -> Result<()> {
    if secs > 0.0 {
        eprintln!("warm-up: {secs} s at {rate:.1} msgs/s (not measured)");
        fleet.step(0, rate, secs, grace, async {}).await?;
    }
    Ok(())
}

/// `fanout`, `mixed`, `bigroom` or `persist`.
pub async fn run(common: &Common, name: &str, args: &ChatArgs, defaults: &Defaults) -> Result<Value> {
    let r = resolve(args, defaults);
    let target = Arc::new(common.target()?);
    let fleet = Fleet::open(common, target, r.layout.clone(), &format!("{name}-")).await?;
    warm_up(&fleet, r.rate, args.warmup_secs, r.grace).await?;
    report::step_header();
    let mut steps: Vec<StepResult> = Vec::new();
    let retries = if args.step { args.retries } else { 0 };
    let mut retried = 0u32;
    let mut number = 0;
    let mut search = if args.step {
        RateSearch::new(r.rate, args.step_factor, args.max_steps, args.refine)
    } else {
        RateSearch::new(r.rate, 1.0, 1, 0)
    };
    while let Some(rate) = search.next_rate() {
        let mut outcome = Outcome::Pass;
        for attempt in 1..=retries + 1 {
            number += 1;
            let (mut result, ()) = fleet.step(number, rate, r.secs, r.grace, async {}).await?;
            result.attempt = attempt;
            result.judge(r.criterion);
            report::step_row(&result);
            let next = after_attempt(&result, attempt, retries);
            steps.push(result);
            match next {
                Next::Rate => break,
                Next::Again => {
                    retried += 1;
                    eprintln!("      failed on latency alone: running {rate:.1} msgs/s again");
                }
                Next::Stop(why) => {
                    outcome = Outcome::Fail(why);
                    break;
                }
            }
        }
        search.record(rate, outcome);
    }
    let stop_reason = if args.step { search.stop_reason() } else { "single step" };
    fleet.close().await;
    // The highest rate that passed (midpoints run after higher rates that failed).
    let knee = steps
        .iter()
        .filter(|s| s.pass)
        .max_by(|a, b| a.offered_per_s.total_cmp(&b.offered_per_s))
        .cloned();
    if args.step {
        match &knee {
            Some(k) => eprintln!(
                "knee: {:.0} msgs/s offered, {:.0} delivered/s, {:.0} acked/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms (stopped: {stop_reason})",
                k.offered_per_s,
                k.delivered_per_s,
                k.acked_per_s,
                k.latency.p50_ms,
                k.latency.p99_ms,
                k.latency.p999_ms
            ),
            None => eprintln!("no step passed (stopped: {stop_reason})"),
        }
    }
    if stop_reason == "loadgen-bound" {
        eprintln!("NOTE: the loadgen was the bottleneck; the knee is only a lower bound. Add --threads or machines.");
    }
    let last = steps.last();
    // The most the server sustained in any valid step, whatever its latency: for persist,
    // "how many committed-and-acked messages per second at most".
    let peak = |f: fn(&StepResult) -> f64| steps.iter().filter(|s| s.valid).map(f).fold(0.0, f64::max);
    Ok(json!({
        "workload": name,
        "target": common.target,
        "layout": r.layout,
        "mode": if args.step { "step" } else { "fixed" },
        "slo_p99_ms": args.slo_p99_ms.unwrap_or(50.0),
        // Stepping: a knee was found (a passing step is always a valid one). Fixed: the step
        // was valid.
        "valid": if args.step { knee.is_some() } else { last.is_some_and(|s| s.valid) },
        "pass": if args.step { knee.is_some() } else { last.is_some_and(|s| s.pass) },
        "stop_reason": stop_reason,
        // Steps run again after failing on latency alone (each attempt is in `steps`).
        "retried_steps": retried,
        // The server was not pushed past its knee: the real one is at least this high.
        "knee_lower_bound": args.step && stop_reason != "server-bound",
        "knee": knee,
        "peak_acked_per_s": peak(|s| s.acked_per_s),
        "peak_delivered_per_s": peak(|s| s.delivered_per_s),
        "steps": steps,
    }))
}

/// What the step search does after one attempt at a rate.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// It passed: on to the next rate.
    Rate,
    /// It failed on latency alone with retries left: the same rate again.
    Again,
    /// The search ends, for this reason.
    Stop(&'static str),
}

fn after_attempt(result: &StepResult, attempt: u32, retries: u32) -> Next {
    if !result.valid {
        Next::Stop("loadgen-bound")
    } else if result.pass {
        Next::Rate
    } else if result.failed_on_latency_alone() && attempt <= retries {
        Next::Again
    } else {
        Next::Stop("server-bound")
    }
}

/// `login`: the same fleet and rate, alone (baseline) and during a login storm, in
/// alternating windows. One pair of 10 s windows on two busy cores swings by more than the
/// 20 % being judged, so the change is the median storm p99 over the median baseline p99.
pub async fn run_login(common: &Common, args: &LoginArgs) -> Result<Value> {
    let r = resolve(&args.chat, &LOGIN);
    let target = Arc::new(common.target()?);
    let fleet = Fleet::open(common, target.clone(), r.layout.clone(), "fanout-").await?;
    warm_up(&fleet, r.rate, args.chat.warmup_secs, r.grace).await?;
    report::step_header();
    let users = r.layout.users();
    let mut baselines = Vec::new();
    let mut storms = Vec::new();
    let mut logins = LoginStorm::default();
    let mut login_h = stats::histogram();
    let mut step = 0;
    for _ in 0..args.rounds.max(1) {
        step += 1;
        let (mut baseline, ()) = fleet.step(step, r.rate, r.secs, r.grace, async {}).await?;
        baseline.judge(r.criterion);
        report::step_row(&baseline);
        baselines.push(baseline);
        step += 1;
        let storm = login_storm(
            target.clone(),
            common.user_prefix.clone(),
            users,
            args.logins_per_sec,
            r.secs,
        );
        let (mut stormy, (round, latencies)) = fleet.step(step, r.rate, r.secs, r.grace, storm).await?;
        stormy.judge(r.criterion);
        report::step_row(&stormy);
        storms.push(stormy);
        logins.ok += round.ok;
        logins.failed += round.failed;
        if logins.first_error.is_none() {
            logins.first_error = round.first_error;
        }
        stats::merge(&mut login_h, &latencies);
    }
    fleet.close().await;
    logins.latency = Summary::of(&login_h);
    let p99 = |steps: &[StepResult]| median(steps.iter().map(|s| s.latency.p99_ms).collect());
    let (base_p99, storm_p99) = (p99(&baselines), p99(&storms));
    let storm_secs = r.secs * storms.len() as f64;
    eprintln!(
        "logins: {} ok, {} failed, {:.1}/s; latency p50 {:.1} ms, p99 {:.1} ms; chat p99 (median of {} windows each) {:.2} ms alone, {:.2} ms during the storm",
        logins.ok,
        logins.failed,
        logins.ok as f64 / storm_secs,
        logins.latency.p50_ms,
        logins.latency.p99_ms,
        storms.len(),
        base_p99,
        storm_p99
    );
    if let Some(e) = &logins.first_error {
        eprintln!("  first login error: {e}");
    }
    let all = || baselines.iter().chain(&storms);
    Ok(json!({
        "workload": "login",
        "target": common.target,
        "layout": r.layout,
        "rate": r.rate,
        "logins_per_sec": args.logins_per_sec,
        "rounds": storms.len(),
        "valid": all().all(|s| s.valid),
        "pass": all().all(|s| s.pass) && logins.failed == 0,
        "chat_p99_ms_baseline": base_p99,
        "chat_p99_ms_storm": storm_p99,
        "login": logins,
        "baseline": baselines,
        "storm": storms,
    }))
}

/// The median of a few values (the mean of the middle two when even); 0 for none.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[derive(serde::Serialize, Default)]
struct LoginStorm {
    ok: u64,
    failed: u64,
    latency: Summary,
    first_error: Option<String>,
}

/// Open-loop logins of the fleet's users, round robin, for `secs`.
/// Also returns the logins' latency histogram, for merging across windows.
async fn login_storm(
    target: Arc<Target>,
    prefix: String,
    users: usize,
    per_sec: f64,
    secs: f64,
) -> (LoginStorm, Histogram<u64>) {
    let count = (per_sec * secs).round() as usize;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / per_sec.max(1e-9));
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let target = target.clone();
        let name = users::username(&prefix, i % users.max(1));
        tasks.push(tokio::spawn(async move {
            let result = target.log_in(&name, users::PASSWORD).await;
            // Measured from the scheduled instant (open loop).
            (due.elapsed(), result)
        }));
    }
    let mut storm = LoginStorm::default();
    let mut h = stats::histogram();
    for task in tasks {
        match task.await {
            Ok((took, Ok(()))) => {
                storm.ok += 1;
                stats::record(&mut h, took);
            }
            Ok((_, Err(e))) => {
                storm.failed += 1;
                storm.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                storm.failed += 1;
                storm.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    storm.latency = Summary::of(&h);
    (storm, h)
}

#[cfg(test)]
mod tests {
    use super::{Next, after_attempt, median};
    use crate::fleet::{Criterion, StepResult};

    /// A valid step of 1,000 sends, all acked and delivered, with this delivery p99.
    fn step(p99_ms: f64) -> StepResult {
        let mut s = StepResult {
            valid: true,
            sent: 1_000,
            acked: 1_000,
            delivered: 19_000,
            expected_deliveries: 19_000,
            ..StepResult::default()
        };
        s.latency.p99_ms = p99_ms;
        s
    }

    fn judged(mut s: StepResult) -> StepResult {
        s.judge(Criterion::Delivery { p99_ms: 50.0 });
        s
    }

    #[test]
    fn a_step_slow_but_complete_is_run_again_while_retries_last() {
        let slow = judged(step(80.0));
        assert!(!slow.pass);
        assert_eq!(after_attempt(&slow, 1, 1), Next::Again);
        assert_eq!(after_attempt(&slow, 2, 1), Next::Stop("server-bound"));
        assert_eq!(after_attempt(&slow, 1, 0), Next::Stop("server-bound"));
        assert_eq!(after_attempt(&judged(step(20.0)), 2, 1), Next::Rate);
    }

    #[test]
    fn a_step_that_lost_refused_or_dropped_anything_is_never_run_again() {
        let mut lost = step(20.0);
        lost.lost = 1;
        let mut refused = step(80.0);
        refused.errors = 1;
        let mut dropped = step(80.0);
        dropped.disconnects = 1;
        let mut unacked = step(80.0);
        unacked.unacked = 3;
        for s in [lost, refused, dropped, unacked] {
            assert_eq!(after_attempt(&judged(s), 1, 5), Next::Stop("server-bound"));
        }
    }

    #[test]
    fn an_invalid_step_ends_the_search_as_loadgen_bound() {
        let mut s = step(10.0);
        s.valid = false;
        assert_eq!(after_attempt(&judged(s), 1, 5), Next::Stop("loadgen-bound"));
    }

    #[test]
    fn median_takes_the_middle_of_odd_and_even_counts() {
        assert_eq!(median(vec![9.0, 1.0, 5.0]), 5.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
