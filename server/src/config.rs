//! Configuration: read from the environment here and nowhere else.
//! Every variable and its default is listed in the README.

use app::backend::Limits;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// `LISTEN_ADDR`, else `LEPTOS_SITE_ADDR` (set by cargo-leptos), else 127.0.0.1:3000.
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`: `mysql://…` for MySQL/MariaDB; default an embedded SQLite file.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`: pool size (default 10 for MySQL, 4 for SQLite).
    pub database_max_connections: u32,
    /// `REDIS_URL`: enables cross-node fan-out and shared presence; unset = in-process.
    pub redis_url: Option<String>,
    /// `REDIS_PREFIX`: namespace for every Redis key and channel (default `natter`),
    /// so several Natter deployments (or test runs) can share one Redis.
    pub redis_prefix: String,
    /// `ALLOWED_ORIGINS`: comma-separated origins allowed to open the WebSocket,
    /// besides the site's own (the request's Host).
    pub allowed_origins: Vec<String>,
    /// `SECURE_COOKIES=true` when the site is served over https.
    pub secure_cookies: bool,
    /// Timings, not read from the environment (tests shorten them).
    pub timings: Timings,
    /// Rate limits. `MESSAGE_BURST` / `MESSAGES_PER_MINUTE` set the
    /// per-user message limit, `AUTH_BURST` / `AUTH_PER_MINUTE` the per-IP
    /// login and sign-up limit, `SOCKETS_PER_USER` the open sockets one user
    /// may hold across the cluster; the per-account login limit is fixed.
    pub limits: Limits,
    /// Uploaded files: where they are kept and how large they may be.
    pub uploads: Uploads,
}

/// Uploaded files.
#[derive(Clone, Debug)]
pub struct Uploads {
    /// `DATA_DIR`: the folder uploaded bytes are kept in (default
    /// `natter-files`, beside the default database), and spooled in while
    /// they arrive.
    pub data_dir: PathBuf,
    /// `STORAGE_URL` (`s3://bucket`): keep uploaded bytes in an
    /// S3-compatible store instead, with its settings from the `AWS_…`
    /// variables (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ALLOW_HTTP`…).
    pub storage: Option<Storage>,
    /// `UPLOAD_QUOTA_MB`: most MiB one person's uploads may hold in all
    /// (default: no quota).
    pub quota_bytes: Option<u64>,
    /// An upload not attached to a message within this long is removed.
    pub unattached_grace: Duration,
    /// How often uploads and bytes nobody refers to are swept.
    pub sweep_every: Duration,
    /// Images decoded at once (each bounded in memory by the image limits).
    pub image_workers: usize,
}

/// An object store for uploaded bytes: its URL and its settings, as
/// lower-case `aws_…` keys.
#[derive(Clone, Debug)]
pub struct Storage {
    pub url: String,
    pub options: Vec<(String, String)>,
}

impl Default for Uploads {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("natter-files"),
            storage: None,
            quota_bytes: None,
            unattached_grace: Duration::from_secs(24 * 60 * 60),
            sweep_every: Duration::from_secs(10 * 60),
            // Half the cores, at least one: decoding a 12 MP photo takes a
            // core for a few hundred ms, and with one per core (2 on the
            // 2-core target) uploads starved chat (p99 36 ms alone, 146-277
            // ms while photos came in: bench/results/2026-12-07T1624-vm).
            image_workers: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        }
    }
}

impl Uploads {
    /// Where uploads are spooled while they arrive, before any check.
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }
}

const MIB: u64 = 1024 * 1024;

/// How often the server checks on things, and how long it waits.
#[derive(Clone, Debug)]
pub struct Timings {
    /// An open socket re-checks that its session still exists, so a logout
    /// ends the user's sockets too.
    pub session_recheck: Duration,
    /// The server pings every socket this often (browsers answer by themselves).
    pub ping_every: Duration,
    /// A socket that sent nothing at all (not even a pong) for this long is
    /// dead: it is closed and its presence removed.
    pub idle_timeout: Duration,
    /// With Redis, how often a node compares what it delivered with the
    /// database and delivers what the bus lost.
    pub repair_every: Duration,
    /// How long a connection's presence entry lives without a refresh
    /// (`PRESENCE_TTL_SECS`): the longest a crashed node's users stay "online".
    pub presence_ttl: Duration,
    /// How often each connection refreshes its entry (a third of the TTL).
    pub presence_refresh: Duration,
    /// How often a node recomputes its rooms' online lists unprompted, to
    /// notice entries that lapsed.
    pub presence_sweep: Duration,
    /// A socket that cannot take a write for this long is dropped.
    pub write_timeout: Duration,
    /// How long a node holds a message that arrived ahead of a gap in its
    /// room's sequence (another node's publish still on its way) before it
    /// reads what is missing from the database.
    pub reorder_hold: Duration,
    /// Longest the server works on one HTTP request (a page or a server
    /// function) before answering 503: whatever it waits on, a request ends.
    pub request_deadline: Duration,
}

impl Timings {
    pub fn with_presence_ttl(self, ttl: Duration) -> Self {
        Self {
            presence_ttl: ttl,
            presence_refresh: ttl / 3,
            presence_sweep: (ttl / 3).min(Duration::from_secs(10)),
            ..self
        }
    }
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            session_recheck: Duration::from_secs(5),
            ping_every: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            repair_every: Duration::from_secs(2),
            presence_ttl: Duration::from_secs(45),
            presence_refresh: Duration::from_secs(15),
            presence_sweep: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            // Publishes from two nodes cross within milliseconds; a lost one
            // should not hold a room's later messages back for long.
            reorder_hold: Duration::from_millis(200),
            // The slowest legitimate request is a login queued behind a storm
            // of others for the hashing threads: seconds, not tens of them.
            request_deadline: Duration::from_secs(30),
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://natter.db?mode=rwc";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn positive(name: &'static str, value: Option<String>, default: u32) -> Result<u32, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!("expected a positive number, got {v:?}"),
        }),
    }
}

/// A rate limit from `burst` and `per_minute` variables, each defaulting to `default`'s.
fn rate(
    burst: &'static str,
    per_minute: &'static str,
    default: app::backend::limits::Rate,
) -> Result<app::backend::limits::Rate, ConfigError> {
    Ok(app::backend::limits::Rate {
        burst: positive(burst, var(burst), default.burst)?,
        per_minute: positive(per_minute, var(per_minute), default.per_minute)?,
    })
}

fn parse_bool(name: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("0") | Some("false") | Some("no") => Ok(false),
        Some("1") | Some("true") | Some("yes") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("expected true or false, got {other:?}"),
        }),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let listen_addr = var("LISTEN_ADDR")
            .or_else(|| var("LEPTOS_SITE_ADDR"))
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let listen_addr = listen_addr.parse().map_err(|e| ConfigError::Invalid {
            name: "LISTEN_ADDR",
            reason: format!("{e}"),
        })?;
        let database_url = var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("mysql:")
            || database_url.starts_with("mariadb:")
            || database_url.starts_with("sqlite:"))
        {
            return Err(ConfigError::Invalid {
                name: "DATABASE_URL",
                reason: "must start with mysql:// or sqlite://".into(),
            });
        }
        let defaults = Limits::default();
        let default_pool = if database_url.starts_with("sqlite:") { 4 } else { 10 };
        let database_max_connections = match var("DATABASE_MAX_CONNECTIONS") {
            None => default_pool,
            Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Invalid {
                name: "DATABASE_MAX_CONNECTIONS",
                reason: "expected a positive number".into(),
            })?,
        };
        Ok(Self {
            listen_addr,
            database_url: database_url.replacen("mariadb:", "mysql:", 1),
            database_max_connections,
            redis_url: var("REDIS_URL"),
            redis_prefix: var("REDIS_PREFIX").unwrap_or_else(|| "natter".into()),
            allowed_origins: var("ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            secure_cookies: parse_bool("SECURE_COOKIES", var("SECURE_COOKIES"))?,
            timings: Timings::default().with_presence_ttl(Duration::from_secs(u64::from(positive(
                "PRESENCE_TTL_SECS",
                var("PRESENCE_TTL_SECS"),
                45,
            )?))),
            limits: Limits {
                messages: rate("MESSAGE_BURST", "MESSAGES_PER_MINUTE", defaults.messages)?,
                auth_per_ip: rate("AUTH_BURST", "AUTH_PER_MINUTE", defaults.auth_per_ip)?,
                sockets_per_user: positive("SOCKETS_PER_USER", var("SOCKETS_PER_USER"), defaults.sockets_per_user)?,
                uploads: rate("UPLOAD_BURST", "UPLOADS_PER_MINUTE", defaults.uploads)?,
                searches: rate("SEARCH_BURST", "SEARCHES_PER_MINUTE", defaults.searches)?,
                // `UPLOAD_MAX_MB`: the largest file accepted, in MiB.
                upload_bytes: u64::from(positive("UPLOAD_MAX_MB", var("UPLOAD_MAX_MB"), 25)?) * MIB,
                ..defaults
            },
            uploads: Uploads {
                data_dir: var("DATA_DIR").map_or_else(|| Uploads::default().data_dir, PathBuf::from),
                storage: var("STORAGE_URL").map(|url| Storage {
                    url,
                    options: std::env::vars()
                        .filter(|(name, value)| name.starts_with("AWS_") && !value.trim().is_empty())
                        .map(|(name, value)| (name.to_ascii_lowercase(), value))
                        .collect(),
                }),
                quota_bytes: match var("UPLOAD_QUOTA_MB") {
                    None => None,
                    some => Some(u64::from(positive("UPLOAD_QUOTA_MB", some, 1)?) * MIB),
                },
                ..Uploads::default()
            },
        })
    }

    /// The configuration tests and embedders start from.
    pub fn new(database_url: impl Into<String>, redis_url: Option<String>) -> Self {
        let database_url = database_url.into();
        Self {
            listen_addr: ([127, 0, 0, 1], 0).into(),
            database_max_connections: if database_url.starts_with("sqlite:") { 4 } else { 10 },
            database_url,
            redis_url,
            redis_prefix: "natter".into(),
            allowed_origins: Vec::new(),
            secure_cookies: false,
            timings: Timings::default(),
            limits: Limits::default(),
            uploads: Uploads::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_usual_spellings_and_reject_the_rest() {
        assert!(!parse_bool("X", None).unwrap());
        assert!(parse_bool("X", Some("TRUE".into())).unwrap());
        assert!(parse_bool("X", Some("maybe".into())).is_err());
    }
}
