//! Everything that runs only on the server: storage, accounts, presence.
//! Server functions reach it through the [`Services`] context; the `server`
//! crate builds it at start-up and uses it directly for the WebSocket.

pub mod accounts;
pub mod clock;
pub mod csp;
pub mod error;
pub mod limits;
pub mod presence;
pub mod store;
pub mod writer;

pub use accounts::Accounts;
pub use error::BackendError;
pub use limits::{Limiter, Limits};
pub use presence::Presence;
pub use store::Store;
pub use writer::Writer;

use crate::protocol::{ApiError, Me};

/// What server functions tell the live side (implemented by the server
/// crate, which owns the sockets): a boxed future keeps it object-safe.
pub trait RoomEvents: Send + Sync {
    /// `user` lost access to `room`: their open sockets stop receiving it at
    /// once, on every node.
    fn member_removed(
        &self,
        room: crate::protocol::RoomId,
        user: crate::protocol::UserId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

/// Where the message writer hands what it committed: every fresh message,
/// in commit order (so each room's in sequence order), before its sender is
/// acknowledged. Implemented by the server crate, which fans messages out;
/// it must not wait (the writer's next commit waits on it).
pub trait Publisher: Send + Sync {
    fn committed(&self, messages: Vec<crate::protocol::ChatMessage>);
}

/// Handles to the server's shared parts. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub accounts: Accounts,
    pub presence: Presence,
    pub limiter: Limiter,
    pub limits: Limits,
    /// Commits chat messages in groups (see [`writer`]).
    pub writer: Writer,
    pub events: std::sync::Arc<dyn RoomEvents>,
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
