//! `upload`: phone photos (by default 12 MP JPEGs of ~3.5 MB, previews made)
//! uploaded without pause by a few people while the fan-out chat runs at a
//! fixed rate, in pairs of windows (the chat alone, then with the uploads):
//! photos per second, server CPU per photo, the server's peak RSS, and the
//! chat's delivery p99 with and without — uploads must not stall chat.
//! Natter only: the peer takes no files.

use crate::cli::{Common, UploadArgs};
use crate::fleet::{Fleet, StepResult};
use crate::procfs;
use crate::report;
use crate::stats::{self, Summary};
use crate::target::{Kind, Target};
use crate::users;
use crate::workloads::chat::{FANOUT, median, resolve, warm_up};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A photo as a phone takes it: `megapixels` at 4:3, with fine detail (so it
/// compresses as a photo does, to a few MB), as a quality-90 JPEG.
fn phone_photo(megapixels: f64) -> Result<Vec<u8>> {
    let height = ((megapixels * 1e6 * 3.0 / 4.0).sqrt()).round() as u32;
    let width = height * 4 / 3;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        // A gradient with grain: xorshift noise on each channel.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let grain = (seed & 0x3f) as u32;
        image::Rgb([
            ((x * 255 / width.max(1)) + grain).min(255) as u8,
            ((y * 255 / height.max(1)) + grain / 2).min(255) as u8,
            (((x + y) * 127 / (width + height).max(1)) + grain).min(255) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .context("encoding the photo")?;
    Ok(out)
}

#[derive(serde::Serialize, Default)]
struct Uploads {
    ok: u64,
    failed: u64,
    per_s: f64,
    latency: Summary,
    first_error: Option<String>,
    /// The server's resident memory, sampled every 20 ms while uploading.
    peak_rss_mib: Option<f64>,
}

/// `uploaders` people each uploading `photo` again and again for `secs`
/// (closed loop: one upload each in flight).
async fn upload_for(
    target: Arc<Target>,
    cookies: Vec<Arc<str>>,
    photo: Arc<Vec<u8>>,
    secs: f64,
    server_pid: Option<i32>,
) -> (Uploads, Histogram<u64>) {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let peak_kib = AtomicU64::new(0);
    let workers = futures::future::join_all(cookies.into_iter().enumerate().map(|(i, cookie)| {
        let (target, photo) = (target.clone(), photo.clone());
        async move {
            let mut outcome = (0u64, 0u64, stats::histogram(), None::<String>);
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                let started = Instant::now();
                let name = format!("IMG_{i:02}{n:05}.jpg");
                match target
                    .http
                    .post_bytes(&format!("/api/uploads?name={name}"), &cookie, photo.to_vec())
                    .await
                {
                    Ok(reply) if reply.status == 201 => {
                        outcome.0 += 1;
                        stats::record(&mut outcome.2, started.elapsed());
                    }
                    Ok(reply) => {
                        outcome.1 += 1;
                        outcome.3.get_or_insert(format!("{}: {}", reply.status, reply.body));
                    }
                    Err(e) => {
                        outcome.1 += 1;
                        outcome.3.get_or_insert(format!("{e:#}"));
                    }
                }
            }
            outcome
        }
    }));
    let sampling = async {
        let Some(pid) = server_pid else {
            return std::future::pending::<()>().await;
        };
        loop {
            if let Ok(sample) = procfs::sample_tree(pid) {
                peak_kib.fetch_max((sample.rss_mib * 1024.0) as u64, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let results = tokio::select! {
        results = workers => results,
        () = sampling => unreachable!("sampling never ends"),
    };
    let mut uploads = Uploads::default();
    let mut h = stats::histogram();
    for (ok, failed, latency, error) in results {
        uploads.ok += ok;
        uploads.failed += failed;
        stats::merge(&mut h, &latency);
        if uploads.first_error.is_none() {
            uploads.first_error = error;
        }
    }
    uploads.per_s = uploads.ok as f64 / secs.max(1e-9);
    uploads.latency = Summary::of(&h);
    let peak = peak_kib.load(Ordering::Relaxed);
    uploads.peak_rss_mib = (peak > 0).then(|| peak as f64 / 1024.0);
    (uploads, h)
}

pub async fn run(common: &Common, args: &UploadArgs) -> Result<Value> {
    if common.target != Kind::Natter {
        bail!("upload: only Natter takes files (the peer has no uploads)");
    }
    let r = resolve(&args.chat, &FANOUT);
    let target = Arc::new(common.target()?);
    let photo = Arc::new(
        tokio::task::spawn_blocking({
            let megapixels = args.megapixels;
            move || phone_photo(megapixels)
        })
        .await??,
    );
    eprintln!(
        "upload: {} uploaders of a {:.1} MP photo ({:.2} MB) while the chat runs at {:.0} msgs/s",
        args.uploaders,
        args.megapixels,
        photo.len() as f64 / 1e6,
        r.rate
    );
    let cookies = users::credentials(
        &target,
        &format!("{}up", common.user_prefix),
        args.uploaders.max(1),
        common.login_concurrency,
        common.session_cache_path(&target).as_deref(),
    )
    .await?;
    let fleet = Fleet::open(common, target.clone(), r.layout.clone(), "fanout-").await?;
    warm_up(&fleet, r.rate, args.chat.warmup_secs, r.grace).await?;
    report::step_header();
    let (mut alone, mut loaded) = (Vec::new(), Vec::new());
    let mut uploads = Uploads::default();
    let mut latency = stats::histogram();
    let mut step = 0;
    let mut cpu_per_photo = Vec::new();
    for _ in 0..args.rounds.max(1) {
        step += 1;
        let (mut baseline, ()) = fleet.step(step, r.rate, r.secs, r.grace, async {}).await?;
        baseline.judge(r.criterion);
        report::step_row(&baseline);
        step += 1;
        let during = upload_for(
            target.clone(),
            cookies.clone(),
            photo.clone(),
            r.secs,
            common.server_pid,
        );
        let (mut with, (round, h)) = fleet.step(step, r.rate, r.secs, r.grace, during).await?;
        with.judge(r.criterion);
        report::step_row(&with);
        // The photos' share of the server's CPU: the window with them less the one without.
        if let (Some(a), Some(b)) = (&baseline.server, &with.server)
            && round.ok > 0
        {
            cpu_per_photo.push((b.cpu_s - a.cpu_s).max(0.0) * 1e3 / round.ok as f64);
        }
        uploads.ok += round.ok;
        uploads.failed += round.failed;
        uploads.peak_rss_mib = match (uploads.peak_rss_mib, round.peak_rss_mib) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if uploads.first_error.is_none() {
            uploads.first_error = round.first_error;
        }
        stats::merge(&mut latency, &h);
        alone.push(baseline);
        loaded.push(with);
    }
    fleet.close().await;
    uploads.latency = Summary::of(&latency);
    uploads.per_s = uploads.ok as f64 / (r.secs * loaded.len() as f64).max(1e-9);
    let p99 = |steps: &[StepResult]| median(steps.iter().map(|s| s.latency.p99_ms).collect());
    let (alone_p99, loaded_p99) = (p99(&alone), p99(&loaded));
    let cpu_ms = median(cpu_per_photo);
    eprintln!(
        "uploads: {} ok, {} failed, {:.2} photos/s, {:.0} ms server CPU each, upload p50 {:.0} ms p99 {:.0} ms, \
         server peak RSS {}; chat p99 {:.2} ms alone, {:.2} ms during uploads",
        uploads.ok,
        uploads.failed,
        uploads.per_s,
        cpu_ms,
        uploads.latency.p50_ms,
        uploads.latency.p99_ms,
        uploads.peak_rss_mib.map_or("unknown".into(), |m| format!("{m:.0} MiB")),
        alone_p99,
        loaded_p99
    );
    if let Some(e) = &uploads.first_error {
        eprintln!("  first upload error: {e}");
    }
    let all = || alone.iter().chain(&loaded);
    Ok(json!({
        "workload": "upload",
        "target": common.target,
        "layout": r.layout,
        "rate": r.rate,
        "uploaders": args.uploaders,
        "photo_bytes": photo.len(),
        "megapixels": args.megapixels,
        "rounds": loaded.len(),
        "valid": all().all(|s| s.valid),
        "pass": all().all(|s| s.pass) && uploads.failed == 0,
        "chat_p99_ms_alone": alone_p99,
        "chat_p99_ms_uploading": loaded_p99,
        "server_cpu_ms_per_photo": cpu_ms,
        "uploads": uploads,
        "alone": alone,
        "uploading": loaded,
    }))
}
