//! A closed loop of requests: `concurrency` workers, each sending its next request when
//! the last one is answered, for a while; what the request-per-page workloads (`sidebar`,
//! `search`) measure with.

use crate::cli::Common;
use crate::stats;
use crate::target::{Kind, Target};
use crate::users;
use anyhow::{Result, bail};
use hdrhistogram::Histogram;
use std::future::Future;
use std::time::{Duration, Instant};

/// The target of a Natter-only workload, and the load generator's first user on it
/// (logged in): its credential and name.
pub async fn natter_user(common: &Common, workload: &str) -> Result<(Target, std::sync::Arc<str>, String)> {
    if common.target != Kind::Natter {
        bail!("the {workload} workload is Natter's alone");
    }
    let target = common.target()?;
    let (credential, name) = users::first(
        &target,
        &common.user_prefix,
        common.session_cache_path(&target).as_deref(),
    )
    .await?;
    Ok((target, credential, name))
}

/// What a loop counted.
pub struct Tally {
    /// Latency of the requests that succeeded.
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub secs: f64,
}

/// Runs `request` (given the worker's number and its count so far) in `concurrency`
/// workers for `secs` seconds; an `Err` is counted, with the first one kept.
pub async fn run<F, Fut>(concurrency: usize, secs: f64, request: F) -> Tally
where
    F: Fn(usize, u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs.max(0.0));
    let request = &request;
    let workers = (0..concurrency.max(1)).map(|worker| async move {
        let mut latency = stats::histogram();
        let (mut ok, mut errors, mut first_error, mut n) = (0u64, 0u64, None::<String>, 0u64);
        while Instant::now() < deadline {
            let sent = Instant::now();
            match request(worker, n).await {
                Ok(()) => {
                    stats::record(&mut latency, sent.elapsed());
                    ok += 1;
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
            n += 1;
        }
        (latency, ok, errors, first_error)
    });
    let mut tally = Tally {
        latency: stats::histogram(),
        ok: 0,
        errors: 0,
        first_error: None,
        secs: 0.0,
    };
    for (latency, ok, errors, first_error) in futures::future::join_all(workers).await {
        stats::merge(&mut tally.latency, &latency);
        tally.ok += ok;
        tally.errors += errors;
        tally.first_error = tally.first_error.or(first_error);
    }
    tally.secs = started.elapsed().as_secs_f64();
    tally
}
