//! `history`: how long fetching one 50-message page takes at random depths of a room
//! holding (by default) a million messages. Closed loop with a few requests in flight:
//! this measures the query, not a queue.

use crate::cli::{Common, HistoryArgs};
use crate::stats::{self, Summary};
use crate::target::Kind;
use crate::users;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages per page (Natter's `PAGE_SIZE`; the peer uses the same).
pub const PAGE: i64 = 50;

/// splitmix64: enough randomness for picking depths, without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi.saturating_sub(lo)).unwrap_or(0) + 1;
        lo + i64::try_from(self.next() % span).unwrap_or(0)
    }
}

struct Tally {
    latency: hdrhistogram::Histogram<u64>,
    ok: u64,
    short_pages: u64,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(common: &Common, args: &HistoryArgs) -> Result<Value> {
    let target = Arc::new(common.target()?);
    let (credential, _) = users::first(
        &target,
        &common.user_prefix,
        common.session_cache_path(&target).as_deref(),
    )
    .await?;
    let (room, first) = match common.target {
        Kind::Natter => {
            let name = args
                .room_name
                .clone()
                .unwrap_or_else(|| format!("{}-history", common.room_prefix));
            let ids = target.rooms(&credential, &[name], common.peer_room_base).await?;
            (ids[0], 1)
        }
        Kind::Peer => {
            let first = match args.first_id {
                Some(first) => first,
                None => {
                    let newest = crate::peer::newest_id(&target.http, &credential, args.peer_room)
                        .await?
                        .with_context(|| format!("room {} has no messages; run seed-history", args.peer_room))?;
                    newest - args.depth + 1
                }
            };
            (args.peer_room, first)
        }
    };
    // A `before` of b returns the page b-50..b-1: keep every page full.
    let (lo, hi) = (first + PAGE, first + args.depth.max(PAGE));
    let run_for = |secs: f64, seed: u64| {
        let target = target.clone();
        let credential = credential.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
            let workers = (0..args.run.concurrency.max(1)).map(|w| {
                let target = target.clone();
                let credential = credential.clone();
                async move {
                    let mut rng = Rng::seeded(seed ^ (w as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
                    let mut t = Tally {
                        latency: stats::histogram(),
                        ok: 0,
                        short_pages: 0,
                        errors: 0,
                        first_error: None,
                    };
                    while Instant::now() < deadline {
                        let before = rng.between(lo, hi);
                        let started = Instant::now();
                        match target.history(&credential, room, before).await {
                            Ok(n) if i64::try_from(n).unwrap_or(0) == PAGE => {
                                stats::record(&mut t.latency, started.elapsed());
                                t.ok += 1;
                            }
                            Ok(n) => {
                                t.short_pages += 1;
                                t.first_error
                                    .get_or_insert_with(|| format!("page before {before} held {n} messages"));
                            }
                            Err(e) => {
                                t.errors += 1;
                                t.first_error.get_or_insert_with(|| format!("{e:#}"));
                            }
                        }
                    }
                    t
                }
            });
            futures::future::join_all(workers).await
        }
    };
    let seed = stats::process_cpu().as_nanos() as u64 ^ u64::from(std::process::id());
    if args.run.warmup_secs > 0.0 {
        run_for(args.run.warmup_secs, seed).await;
    }
    let watched = common.watched();
    let before = watched.read();
    let cpu0 = stats::process_cpu();
    let started = Instant::now();
    let tallies = run_for(args.run.secs, seed.rotate_left(17)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let loadgen_cores = stats::process_cpu().saturating_sub(cpu0).as_secs_f64() / elapsed;
    let after = watched.read();
    let mut all = stats::histogram();
    let (mut ok, mut short, mut errors, mut first_error) = (0, 0, 0, None);
    for t in tallies {
        stats::merge(&mut all, &t.latency);
        ok += t.ok;
        short += t.short_pages;
        errors += t.errors;
        first_error = first_error.or(t.first_error);
    }
    let latency = Summary::of(&all);
    let server = before.server_until(&after);
    eprintln!(
        "history: {ok} pages in {elapsed:.1} s ({:.0}/s, {} in flight): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {short} short pages, {errors} errors; server {}",
        ok as f64 / elapsed,
        args.run.concurrency,
        latency.p50_ms,
        latency.p99_ms,
        latency.p999_ms,
        server.as_ref().map_or("-".into(), |s| format!(
            "{:.0}% CPU, {:.0} MiB",
            s.cores * 100.0,
            s.rss_mib
        )),
    );
    if let Some(e) = &first_error {
        eprintln!("  first problem: {e}");
    }
    Ok(json!({
        "workload": "history",
        "target": common.target,
        "room": room,
        "depth": args.depth,
        "concurrency": args.run.concurrency,
        "secs": elapsed,
        "pages": ok,
        "pages_per_s": ok as f64 / elapsed,
        "short_pages": short,
        "errors": errors,
        "first_error": first_error,
        "latency": latency,
        "server": server,
        "server_cpu_us_per_page": server.as_ref().map(|s| if ok == 0 { 0.0 } else { s.cpu_s * 1e6 / ok as f64 }),
        "others": before.others_until(&after).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "loadgen_cores": loadgen_cores,
        "valid": true,
        "pass": errors == 0 && short == 0 && ok > 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_stay_in_range_and_cover_it() {
        let mut rng = Rng::seeded(7);
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for _ in 0..10_000 {
            let v = rng.between(51, 1_000_001);
            assert!((51..=1_000_001).contains(&v));
            min = min.min(v);
            max = max.max(v);
        }
        assert!(min < 1_000 && max > 999_000, "{min}..{max}");
        assert_eq!(rng.between(5, 5), 5);
    }
}
