//! Storage on MySQL/MariaDB or an embedded SQLite file, through sqlx's
//! `Any` driver, so one set of queries (with `?` placeholders, always bound —
//! never formatted) serves both. One module per thing stored; this one owns
//! the pool, the schema and what the modules share.

mod accounts;
mod admin;
#[cfg(test)]
mod admin_tests;
mod audit;
mod batch;
mod changes;
#[cfg(test)]
mod living_tests;
mod log;
mod memberships;
mod overview;
mod reading;
#[cfg(test)]
mod reading_tests;
mod reports;
mod room_admin;
mod rooms;
mod search;
#[cfg(test)]
mod search_tests;
mod sessions;
mod signups;
mod standing;
#[cfg(test)]
mod tests;
mod uploads;
#[cfg(test)]
mod uploads_tests;

pub use accounts::Credentials;
pub use audit::Actor;
pub use log::{Applied, Moderation, NewMessage, NewUpdate, Posted, UpdateChange};
pub use overview::DAY_MS;
pub use reading::SIDEBAR_ROOMS;
pub use reports::OPEN_REPORTS_PER_PERSON;
pub use room_admin::RoomChange;
pub use rooms::RoomRow;
pub use search::{SEARCH_TERMS_VERSION, SearchFilter, SearchResults};
pub use sessions::TokenHash;
pub use standing::{Standing, StandingChange};
pub use uploads::{NewUpload, UploadRow};

use super::error::BackendError;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

type Result<T> = std::result::Result<T, BackendError>;

static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    is_sqlite: bool,
    /// `INSERT … RETURNING` works (SQLite, MariaDB; not MySQL): a batch gets
    /// its new ids from its inserts instead of reading them back.
    returning: bool,
}

/// A pooled connection idle for less than this is used without a ping (see
/// [`Store::connect`]).
const TRUST_RECENTLY_PINGED: std::time::Duration = std::time::Duration::from_secs(1);

/// `?, ?, …, ?` (`n` of them). Batch statements are built from this and fixed
/// text only, never from values: every value is bound.
fn placeholders(n: usize) -> String {
    let mut text = "?, ".repeat(n);
    text.truncate(text.len().saturating_sub(2));
    text
}

/// `items` padded to a power-of-two length by repeating the last one.
///
/// For the group commit's statements, whose text grows with the batch: the
/// MySQL driver prepares each distinct text and keeps ~100 per connection.
/// With one text per batch size the cache churns, and each of those
/// statements was measured taking ~43 ms while BEGIN and COMMIT took well
/// under one: four per batch made it ~175 ms and capped persistence near
/// 4,000 messages/s while the server and the database idled. (Our reading:
/// every eviction sends a COM_STMT_CLOSE, which has no reply, and the next
/// statement waits behind it for a delayed TCP ACK, since the driver leaves
/// Nagle on.) Powers of two keep it to ~10 texts per statement. Repeating a
/// value in `IN (…)`, `CASE` or `OR` lists changes no result.
fn padded<T: Clone>(items: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    if let Some(last) = items.last() {
        out.resize(items.len().next_power_of_two(), last.clone());
    }
    out
}

/// Splits `items` into chunks of power-of-two sizes, largest first (see [`padded`]).
fn power_of_two_chunks<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    while !items.is_empty() {
        let n = 1usize << (usize::BITS - 1 - items.len().leading_zeros());
        let (chunk, rest) = items.split_at(n);
        chunks.push(chunk);
        items = rest;
    }
    chunks
}

/// Runs `delete` (`DELETE FROM table WHERE column`, fixed text) for `ids`:
/// `… IN (…)`, in chunks of power-of-two sizes (see [`padded`]).
async fn delete_ids(tx: &mut sqlx::AnyConnection, delete: &str, ids: &[i64]) -> Result<()> {
    for chunk in power_of_two_chunks(ids) {
        let sql = format!("{delete} IN ({})", placeholders(chunk.len()));
        chunk
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(*id))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Connects, and brings the schema up to date. `url` is `mysql://…` or `sqlite://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            // sqlx pings a connection when it returns to the pool and, by
            // default, again when it is taken out: two extra round trips per
            // query, one of them in front of it (a history page measured 4
            // pings to 2 statements). A connection back from work less than
            // a second ago passed its return ping then; older ones are
            // pinged as before, so a database restart during a quiet spell
            // still costs no request a failed query. (One within that second
            // can fail a query per connection, as a restart mid-query can.)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= TRUST_RECENTLY_PINGED {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        let returning = if is_sqlite {
            // WAL lets readers (history, catch-up) run while a message commits.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            true
        } else {
            MYSQL_MIGRATIONS.run(&pool).await?;
            let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&pool).await?;
            version.contains("MariaDB")
        };
        Ok(Self {
            pool,
            is_sqlite,
            returning,
        })
    }

    /// The same store, reading a batch's ids back as on MySQL (for tests of
    /// that path on MariaDB).
    #[cfg(test)]
    fn without_returning(mut self) -> Self {
        self.returning = false;
        self
    }

    pub fn is_sqlite(&self) -> bool {
        self.is_sqlite
    }

    /// Cheap liveness check for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
