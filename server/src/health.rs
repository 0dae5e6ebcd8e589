//! `/healthz`: whether the database and Redis answer. 200 when the database
//! does (the service works, maybe degraded without Redis), 503 when it does not.
//! Public, so it names no cause: the error text (which may carry hosts and
//! user names) goes to the log.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
pub struct Health {
    /// "ok", "degraded" (Redis down: cross-node delivery paused) or "down".
    pub status: &'static str,
    /// "ok" or "unreachable".
    pub database: &'static str,
    /// "ok", "unreachable" or "disabled (in-process fan-out)".
    pub redis: &'static str,
    /// How often live delivery had to wait to keep each room in sequence
    /// order, since this node started.
    pub ordering: Ordering,
}

#[derive(Serialize)]
pub struct Ordering {
    /// Messages that arrived ahead of a gap and were held back.
    pub held: u64,
    /// Missing messages read from the database to fill a gap.
    pub filled_from_database: u64,
    /// Gaps given up on (their messages delivered past the hole).
    pub gaps_given_up: u64,
}

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    const UNREACHABLE: &str = "unreachable";
    let database = match state.services.store.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database did not answer");
            UNREACHABLE
        }
    };
    let redis = match &state.node.redis {
        None => "disabled (in-process fan-out)",
        Some(redis) => match redis.ping().await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "health check: redis did not answer");
                UNREACHABLE
            }
        },
    };
    let (code, status) = match (database == "ok", redis == UNREACHABLE) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "down"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ok"),
    };
    let stats = &state.node.ledger.stats;
    let read = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    let ordering = Ordering {
        held: read(&stats.held),
        filled_from_database: read(&stats.filled_from_database),
        gaps_given_up: read(&stats.gaps_given_up),
    };
    (
        code,
        Json(Health {
            status,
            database,
            redis,
            ordering,
        }),
    )
}
