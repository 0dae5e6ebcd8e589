//! Rate limits (message floods, login and sign-up guessing), shared by every
//! node through Redis, or kept in this process on the embedded default.
//!
//! The algorithm is GCRA (a token bucket kept as one timestamp per key): a
//! key may do `burst` things at once and then one every `1 / per_second`.
//! The same arithmetic runs in [`gcra`] locally and in [`GCRA_SCRIPT`] on
//! Redis, where it is atomic across nodes.

use super::clock::now_ms;
use super::error::BackendError;
use crate::protocol::Millis;
use fred::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A limit: `burst` at once, then `per_minute` spread evenly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

impl Rate {
    /// Milliseconds between two things at the sustained rate.
    fn interval_ms(self) -> Millis {
        (60_000 / Millis::from(self.per_minute.max(1))).max(1)
    }
    /// How far ahead of now the bucket may run: the burst.
    fn tolerance_ms(self) -> Millis {
        self.interval_ms() * Millis::from(self.burst.max(1) - 1)
    }
}

/// The limits Natter applies; admins can change them through the environment.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Messages one user may send, across all their connections and nodes.
    pub messages: Rate,
    /// Login attempts naming one account (a guessing victim recovers as the bucket refills).
    pub login_per_account: Rate,
    /// Login and sign-up attempts from one IP address.
    pub auth_per_ip: Rate,
    /// Open WebSockets one user may hold on one node (tabs, devices).
    pub sockets_per_user: u32,
    /// Files one user may upload, across all nodes.
    pub uploads: Rate,
    /// The largest file one may upload, in bytes (the room page tells the
    /// browser, which refuses larger ones before sending a byte).
    pub upload_bytes: u64,
    /// Searches one user may run, across all nodes.
    pub searches: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            messages: Rate {
                burst: 20,
                per_minute: 120,
            },
            login_per_account: Rate {
                burst: 10,
                per_minute: 6,
            },
            auth_per_ip: Rate {
                burst: 30,
                per_minute: 30,
            },
            sockets_per_user: 20,
            // A handful of photos dropped at once, then one every two seconds.
            uploads: Rate {
                burst: 20,
                per_minute: 30,
            },
            upload_bytes: 25 * 1024 * 1024,
            // Typing a few searches in a row, then one a second.
            searches: Rate {
                burst: 10,
                per_minute: 60,
            },
        }
    }
}

/// The outcome of one check: allowed, or how long to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    RetryAfterMs(Millis),
}

/// One GCRA step. `tat` is the key's "theoretical arrival time" (None: new
/// key). Returns the verdict and the new `tat` to store when allowed.
pub fn gcra(tat: Option<Millis>, now: Millis, rate: Rate) -> (Verdict, Option<Millis>) {
    let tat = tat.unwrap_or(now).max(now);
    let ahead = tat - now;
    if ahead > rate.tolerance_ms() {
        return (Verdict::RetryAfterMs(ahead - rate.tolerance_ms()), None);
    }
    (Verdict::Allowed, Some(tat + rate.interval_ms()))
}

/// [`gcra`] as a Redis script: KEYS[1] the bucket; ARGV now, interval, tolerance.
/// Returns 0 when allowed, else the milliseconds to wait.
const GCRA_SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return tat - now - tolerance end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now)
return 0
"#;

#[derive(Clone)]
pub enum Limiter {
    /// key → tat; pruned of keys whose bucket is full again. A std mutex:
    /// nothing awaits while it is held.
    Local(Arc<Mutex<HashMap<String, Millis>>>),
    Redis {
        client: Client,
        prefix: Arc<str>,
    },
}

impl Limiter {
    pub fn local() -> Self {
        Limiter::Local(Arc::default())
    }

    pub fn redis(client: Client, prefix: &str) -> Self {
        Limiter::Redis {
            client,
            prefix: prefix.into(),
        }
    }

    /// Counts one attempt at `what` against `key`; a refusal says when to
    /// retry. If the limiter itself is unreachable (Redis down) the attempt is
    /// allowed: an outage must not lock everyone out.
    pub async fn enforce(&self, key: &str, rate: Rate, what: &str) -> Result<(), BackendError> {
        match self.check(key, rate).await {
            Ok(Verdict::Allowed) => Ok(()),
            Ok(Verdict::RetryAfterMs(wait)) => Err(BackendError::RateLimited(format!("{what}; {}.", retry_hint(wait)))),
            Err(e) => {
                tracing::warn!(key, error = %e, "rate limiter unavailable; allowing");
                Ok(())
            }
        }
    }

    /// Counts one thing against `key` at `rate`.
    pub async fn check(&self, key: &str, rate: Rate) -> Result<Verdict, BackendError> {
        let now = now_ms();
        match self {
            Limiter::Local(table) => {
                let mut table = table.lock().unwrap_or_else(|p| p.into_inner());
                if table.len() > 100_000 {
                    table.retain(|_, tat| *tat > now);
                }
                let (verdict, next) = gcra(table.get(key).copied(), now, rate);
                if let Some(next) = next {
                    table.insert(key.to_owned(), next);
                }
                Ok(verdict)
            }
            Limiter::Redis { client, prefix } => {
                let wait: i64 = client
                    .eval(
                        GCRA_SCRIPT,
                        format!("{prefix}:rate:{key}"),
                        vec![now, rate.interval_ms(), rate.tolerance_ms()],
                    )
                    .await?;
                Ok(if wait > 0 {
                    Verdict::RetryAfterMs(wait)
                } else {
                    Verdict::Allowed
                })
            }
        }
    }
}

/// "Try again in N s" for a wait in milliseconds (at least 1 s).
pub fn retry_hint(wait_ms: Millis) -> String {
    let secs = (wait_ms + 999) / 1000;
    format!("try again in {} s", secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_sustained_rate_applies() {
        let rate = Rate {
            burst: 3,
            per_minute: 60,
        }; // one per second after three
        let mut tat = None;
        for _ in 0..3 {
            let (verdict, next) = gcra(tat, 10_000, rate);
            assert_eq!(verdict, Verdict::Allowed);
            tat = next;
        }
        let (verdict, _) = gcra(tat, 10_000, rate);
        assert_eq!(verdict, Verdict::RetryAfterMs(1000));
        let (verdict, _) = gcra(tat, 11_000, rate);
        assert_eq!(verdict, Verdict::Allowed, "a second later one more is allowed");
    }

    #[tokio::test]
    async fn keys_are_limited_separately() {
        let limiter = Limiter::local();
        let rate = Rate {
            burst: 1,
            per_minute: 1,
        };
        assert_eq!(limiter.check("a", rate).await.unwrap(), Verdict::Allowed);
        assert!(matches!(
            limiter.check("a", rate).await.unwrap(),
            Verdict::RetryAfterMs(_)
        ));
        assert_eq!(limiter.check("b", rate).await.unwrap(), Verdict::Allowed);
        assert_eq!(retry_hint(1), "try again in 1 s");
        assert_eq!(retry_hint(4001), "try again in 5 s");
    }
}
