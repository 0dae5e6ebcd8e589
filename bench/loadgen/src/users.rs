//! The simulated users: `<prefix><n>`, signed up on first use and reused afterwards.
//!
//! Every login costs the server an argon2 hash (tens of ms of CPU), so logins run with
//! bounded concurrency, each user's one credential serves all of its sockets, and Natter
//! session cookies are remembered in a file between runs (checked with a cheap `/api/me`
//! before use) so that a suite repeating a 10,000-socket run does not log in a thousand
//! users every time.

use crate::target::Target;
use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every simulated user's password (the accounts exist only for benchmarking).
pub const PASSWORD: &str = "loadgen-password-1";

pub fn username(prefix: &str, n: usize) -> String {
    format!("{prefix}{n}")
}

/// Where remembered sessions go when `--session-cache` is not given.
pub fn default_cache_path(target: &Target, prefix: &str) -> PathBuf {
    let host: String = target
        .http
        .base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("loadgen-sessions-{host}-{prefix}.json"))
}

/// The load generator's first user (named from `prefix`): its credential and its name.
pub async fn first(target: &Target, prefix: &str, cache: Option<&Path>) -> Result<(Arc<str>, String)> {
    let credential = credentials(target, prefix, 1, 1, cache)
        .await?
        .pop()
        .context("no user")?;
    Ok((credential, username(prefix, 0)))
}

/// Credentials of users `0..count`, in order.
pub async fn credentials(
    target: &Target,
    prefix: &str,
    count: usize,
    concurrency: usize,
    cache: Option<&Path>,
) -> Result<Vec<Arc<str>>> {
    let cache = cache.filter(|_| target.caches_credentials());
    let mut remembered: HashMap<String, String> = cache
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let names: Vec<String> = (0..count).map(|n| username(prefix, n)).collect();
    let started = std::time::Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(String, String)> = futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let old = remembered.get(&name).cloned();
            let done = &done;
            async move {
                if let Some(old) = old
                    && target.still_valid(&old).await.unwrap_or(false)
                {
                    return Ok::<_, anyhow::Error>((name, old));
                }
                let credential = target
                    .credential(&name, PASSWORD)
                    .await
                    .with_context(|| format!("logging in {name}"))?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_multiple_of(100) {
                    eprintln!("  {n} logins ({:.0?})", started.elapsed());
                }
                Ok((name, credential))
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let logged_in = done.into_inner();
    eprintln!(
        "users: {count} ready, {logged_in} logged in, {} reused, in {:.1?}",
        count - logged_in,
        started.elapsed()
    );
    if let Some(path) = cache {
        remembered.extend(results.iter().cloned());
        if let Err(e) = save(path, &remembered) {
            eprintln!("warning: could not remember sessions in {}: {e:#}", path.display());
        }
    }
    Ok(results.into_iter().map(|(_, c)| Arc::from(c)).collect())
}

fn save(path: &Path, sessions: &HashMap<String, String>) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(sessions)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
