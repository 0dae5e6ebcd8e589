//! The server-side error type. Users see [`ApiError`]'s sentence; the cause
//! (a database or Redis error) is logged once, where it is converted.

use crate::protocol::{ApiError, ErrorCode};
use crate::validate::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("not logged in")]
    Unauthorized,
    #[error("room not found")]
    RoomNotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("password hashing: {0}")]
    Hashing(String),
    /// A shared part failed for many requests at once (its cause is logged where it happened).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl BackendError {
    /// Whether this came from the database refusing a duplicate key.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, BackendError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// Whether the database rolled the transaction back to break a deadlock
    /// (MySQL 1213) or gave up waiting for a lock (1205): worth retrying.
    pub fn is_deadlock(&self) -> bool {
        matches!(self, BackendError::Database(sqlx::Error::Database(e))
            if e.message().contains("Deadlock found") || e.message().contains("Lock wait timeout"))
    }

    /// The user-facing form. Infrastructure causes are logged here, once.
    /// Inside a server function it also sets the HTTP status to match.
    pub fn to_api(&self) -> ApiError {
        let api = self.describe();
        set_response_status(api.code);
        api
    }

    fn describe(&self) -> ApiError {
        match self {
            BackendError::Invalid(e) => ApiError::invalid(e.0.clone()),
            BackendError::Unauthorized => ApiError::unauthorized(),
            BackendError::RoomNotFound => ApiError::room_not_found(),
            BackendError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m.clone()),
            BackendError::RateLimited(m) => ApiError::new(ErrorCode::RateLimited, m.clone()),
            BackendError::Database(_)
            | BackendError::Migration(_)
            | BackendError::Redis(_)
            | BackendError::Hashing(_)
            | BackendError::Unavailable(_) => {
                tracing::error!(error = %self, "request failed");
                ApiError::unavailable()
            }
        }
    }
}

/// Inside a server function (or a page being rendered), makes the response's
/// status the one `code` means; elsewhere (a socket frame) does nothing.
///
/// A redirect already decided on stays: a page that sends a visitor to log
/// in also loads data that fails for want of a session, in any order.
pub fn set_response_status(code: ErrorCode) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        let mut parts = response.0.write().unwrap_or_else(|p| p.into_inner());
        if !parts.status.is_some_and(|s| s.is_redirection()) {
            parts.status = Some(http_status(code));
        }
    }
}

/// The HTTP status a server function answers with for each kind of failure
/// (leptos would answer 500 for all of them).
fn http_status(code: ErrorCode) -> http::StatusCode {
    use http::StatusCode as S;
    match code {
        ErrorCode::Invalid | ErrorCode::BadFrame => S::BAD_REQUEST,
        ErrorCode::Unauthorized => S::UNAUTHORIZED,
        ErrorCode::NotFound => S::NOT_FOUND,
        ErrorCode::Conflict | ErrorCode::Resync => S::CONFLICT,
        ErrorCode::RateLimited => S::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => S::SERVICE_UNAVAILABLE,
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        e.to_api()
    }
}
