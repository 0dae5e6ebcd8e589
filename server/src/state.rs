//! What every handler can reach.

use crate::config::Config;
use crate::node::Node;
use app::backend::Services;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tokio::sync::watch;

/// Shared by every request and socket; one pointer to clone. Each open socket
/// keeps a clone for its lifetime, and the fields themselves (the Leptos
/// options, the services' handles) are ~500 bytes: 10,000 idle sockets
/// should not hold 10,000 copies of them.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    /// Needed by leptos_axum's handlers (hence `FromRef`).
    pub leptos_options: LeptosOptions,
    pub services: Services,
    pub node: Arc<Node>,
    pub config: Arc<Config>,
    /// Uploaded files' storage and image work.
    pub files: crate::files::Files,
    /// Flips to `true` when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
