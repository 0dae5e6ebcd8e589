//! Everything that runs only on the server: storage, accounts, presence.
//! Server functions reach it through the [`Services`] context; the `server`
//! crate builds it at start-up and uses it directly for the WebSocket.

pub mod access;
pub mod accounts;
pub mod clock;
pub mod csp;
pub mod error;
pub mod events;
pub mod limits;
pub mod presence;
pub mod search_text;
pub mod store;
pub mod writer;

pub use access::{Access, AccessControl};
pub use accounts::Accounts;
pub use error::BackendError;
pub use events::{Publisher, RoomEvent};
pub use limits::{Limiter, Limits};
pub use presence::Presence;
pub use store::Store;
pub use writer::Writer;

use crate::protocol::{ApiError, Me};

/// Handles to the server's shared parts. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    /// What each user may do in each room: asked by every server function
    /// and socket frame.
    pub access: AccessControl,
    pub accounts: Accounts,
    pub presence: Presence,
    pub limiter: Limiter,
    pub limits: Limits,
    /// Commits chat messages in groups (see [`writer`]).
    pub writer: Writer,
    /// Where room events go out to every node (see [`events`]).
    pub publisher: std::sync::Arc<dyn Publisher>,
}

/// The services, from a server function's context.
pub fn services() -> Result<Services, ApiError> {
    leptos::prelude::use_context::<Services>().ok_or_else(|| {
        tracing::error!("Services missing from the server function context");
        ApiError::unavailable()
    })
}

/// The request's headers, from a server function's context.
pub fn request_headers() -> http::HeaderMap {
    leptos::prelude::use_context::<http::request::Parts>()
        .map(|parts| parts.headers)
        .unwrap_or_default()
}

/// The address the current server-function request came from.
pub async fn client_ip() -> String {
    use axum::extract::ConnectInfo;
    match leptos_axum::extract::<ConnectInfo<std::net::SocketAddr>>().await {
        Ok(ConnectInfo(addr)) => addr.ip().to_string(),
        Err(_) => "unknown".into(),
    }
}

/// The logged-in user of the current server function call.
pub async fn current_user(services: &Services) -> Result<Me, ApiError> {
    Ok(services.accounts.authenticate(&request_headers()).await?)
}
