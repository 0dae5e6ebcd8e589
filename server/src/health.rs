//! `/healthz`: whether the database and Redis answer. 200 when the database
//! does (the service works, maybe degraded without Redis), 503 when it does not.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
pub struct Health {
    /// "ok", "degraded" (Redis down: cross-node delivery paused) or "down".
    pub status: &'static str,
    pub database: String,
    pub redis: String,
}

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = match state.services.store.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let redis = match &state.node.redis {
        None => "disabled (in-process fan-out)".to_owned(),
        Some(redis) => match redis.ping().await {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("error: {e}"),
        },
    };
    let (code, status) = match (database == "ok", redis.starts_with("error")) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "down"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ok"),
    };
    (
        code,
        Json(Health {
            status,
            database,
            redis,
        }),
    )
}
