//! What every handler can reach.

use crate::config::Config;
use crate::node::Node;
use app::backend::Services;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone, FromRef)]
pub struct AppState {
    /// Needed by leptos_axum's handlers (hence `FromRef`).
    pub leptos_options: LeptosOptions,
    pub services: Services,
    pub node: Arc<Node>,
    pub config: Arc<Config>,
    /// Flips to `true` when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }
}
