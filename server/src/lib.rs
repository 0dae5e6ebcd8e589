//! The Natter server: serves the Leptos app, `/ws` and `/healthz`.
//!
//! Layout:
//! - [`config`] — the only reader of the environment.
//! - [`state`] — what handlers share.
//! - [`ws`] — WebSocket upgrade and the per-connection loop.
//! - [`hub`] — this node's room → connection table and local delivery.
//! - [`bus`] — cross-node fan-out over Redis pub/sub.
//! - [`node`] — ties hub, bus and presence together for this process.
//! - [`ledger`] — which messages this node delivered, so each goes out once.
//! - [`sessions`] — every open socket by session: closes those whose session
//!   ended (checked in bulk), and all of them at shutdown.
//! - [`health`] — `/healthz`.
//! - [`origin`], [`guard`] — cross-site checks and security headers.
//! - [`admin`] — the `disable-user` / `enable-user` commands.
//!
//! Storage, accounts and presence live in `app::backend`, because the
//! server functions compiled inside `app` need them too.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests start the
//! real server on port 0.

pub mod admin;
pub mod bus;
pub mod config;
pub mod files;
pub(crate) mod guard;
pub(crate) mod health;
pub(crate) mod hub;
pub(crate) mod ledger;
pub(crate) mod mailbox;
pub mod node;
pub(crate) mod origin;
pub(crate) mod sessions;
pub(crate) mod state;
pub mod ws;

use crate::bus::RedisBus;
use crate::config::Config;
use crate::node::Node;
use crate::state::AppState;
use app::backend::{Accounts, BackendError, Limiter, Presence, Services, Store};
use app::{App, shell};
use axum::Router;
use axum::routing::get;
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Password hashing threads (at low priority): one per core of the 2-core target machine.
const HASHING_THREADS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Files(#[from] files::blobs::BlobError),
}

/// The app's routes, listed once per process. Listing them renders the app
/// with resource loading suppressed process-wide (leptos's
/// `SuppressResourceLoad`), and a resource first polled meanwhile never
/// loads: a page being rendered by another server in the same process (the
/// integration tests start many) waited forever. Listed once, before any
/// server of the process serves, there is no meanwhile.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn node_id() -> String {
    // Unique enough to tell this process's connections from other nodes'.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// Indexes the messages for search in the background when the index holds
/// an older version of the terms (or none: messages from before search).
/// Until it is done, older messages are not found; new ones are.
async fn index_for_search(store: &Store) -> Result<(), ServerError> {
    if store.search_terms_version().await? >= app::backend::store::SEARCH_TERMS_VERSION {
        return Ok(());
    }
    let store = store.clone();
    tokio::spawn(async move {
        tracing::info!("indexing messages for search");
        match store.rebuild_search().await {
            Ok(n) => tracing::info!(messages = n, "indexed for search"),
            Err(e) => tracing::warn!(error = %e, "indexing for search stopped; run `server rebuild-search`"),
        }
    });
    Ok(())
}

/// Connects storage and Redis and builds everything handlers share; also
/// what the socket tests build a node from.
pub(crate) async fn assemble(
    config: Config,
    leptos_options: LeptosOptions,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<AppState, ServerError> {
    let store = Store::connect(&config.database_url, config.database_max_connections).await?;
    let accounts = Accounts::new(store.clone(), config.secure_cookies, HASHING_THREADS).await?;
    index_for_search(&store).await?;
    let (presence, limiter, redis) = match &config.redis_url {
        Some(url) => {
            let bus = RedisBus::connect(url, &config.redis_prefix).await?;
            let presence = Presence::redis(bus.client.clone(), &config.redis_prefix);
            let limiter = Limiter::redis(bus.client.clone(), &config.redis_prefix);
            (presence, limiter, Some(bus))
        }
        None => (Presence::local(), Limiter::local(), None),
    };
    tracing::info!(
        database = if store.is_sqlite() { "sqlite" } else { "mysql" },
        redis = redis.is_some(),
        "storage ready"
    );
    let files = files::Files::new(&config.uploads)?;
    tracing::info!(
        storage = if files.blobs.local { "folder" } else { "s3" },
        data_dir = %config.uploads.data_dir.display(),
        "file storage ready"
    );
    if redis.is_some() && files.blobs.local {
        tracing::warn!(
            data_dir = %config.uploads.data_dir.display(),
            "several nodes (REDIS_URL is set) but uploaded files are kept on this node's disk: \
             a file uploaded here cannot be fetched through another node unless DATA_DIR is a folder \
             they all share; set STORAGE_URL to an S3-compatible store instead"
        );
    }
    let access = app::backend::AccessControl::new(store.clone());
    let node = Arc::new(Node::new(
        node_id(),
        store.clone(),
        access.clone(),
        presence.clone(),
        redis,
    ));
    let publisher = Arc::new(node::NodePublisher(node.clone()));
    let services = Services {
        store: store.clone(),
        access,
        accounts,
        presence,
        limiter,
        limits: config.limits,
        writer: app::backend::Writer::start(store, publisher.clone()),
        publisher,
    };
    Ok(AppState::new(state::Shared {
        leptos_options,
        services,
        node,
        config: Arc::new(config),
        files,
        shutdown,
    }))
}

/// The file routes, outside the rest of the site's 64 KiB body limit (an
/// upload bounds itself while it streams, and has its own deadline); file
/// downloads keep the usual deadline for their answer to start.
fn files_routes(state: &AppState) -> Router<AppState> {
    use axum::routing::post;
    let downloads = Router::new()
        .route("/files/{id}/{name}", get(files::routes::original))
        .route("/previews/{id}", get(files::routes::preview))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::deadline));
    Router::new()
        .route("/api/uploads", post(files::routes::upload))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::refuse_cross_site,
        ))
        .merge(downloads)
}

/// Runs Natter on `listener` until `shutdown` resolves, then closes every
/// socket with "going away" and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    leptos_options: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let state = assemble(config, leptos_options.clone(), shutdown_rx).await?;
    let services = state.services.clone();
    let node = state.node.clone();
    let store = services.store.clone();
    let timings = &state.config.timings;
    let background_timings = node::BackgroundTimings {
        repair_every: timings.repair_every,
        reorder_hold: timings.reorder_hold,
        sweep_every: timings.presence_sweep,
        session_recheck: timings.session_recheck,
        session_accounts: services.accounts.clone(),
    };

    let routes = route_list();
    let app = Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(health::healthz))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(services.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::refuse_cross_site,
        ))
        .layer(RequestBodyLimitLayer::new(guard::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(guard::bound_unsized_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::deadline))
        .merge(files_routes(&state))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone());
    let app = guard::static_headers().into_iter().fold(app, |app, (name, value)| {
        app.layer(SetResponseHeaderLayer::if_not_present(name, value))
    });

    // Owned here: dropped or shut down with the server, never detached.
    let mut background = node.start_background(background_timings);
    background.spawn(files::sweep::run(state.services.store.clone(), state.files.clone()));

    let sessions = node.sessions.clone();
    // Nagle off, as Node's `ws` (so the Socket.IO peer) sets it: a client mostly
    // receives, so it delays its ACKs (40 ms), and with Nagle on a socket's
    // next small frame waits for that ACK. Measured on the login-storm
    // workload: chat p99 10.5 -> 45.0 ms with Nagle, 8.0 -> 15.4 ms without
    // (bench/results/README.md). Coalescing is the writer's job (feed, flush).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
    });
    // Peer addresses feed the per-IP login limits.
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: closing sockets");
        // New upgrades are refused from here; open sockets (all of them
        // watched for their session) are told to close.
        let _ = shutdown_tx.send(true);
        sessions.shut_down_all();
    })
    .await;

    // Give open sockets a moment to send their close frames, leave presence
    // and release their cluster-wide slots, all before Redis is let go (10,000
    // sockets' releases were cancelled when this waited for the rooms only).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while node.has_open_sockets() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    background.shutdown().await;
    if let Some(redis) = &node.redis {
        redis.quit().await;
    }
    store.close().await;
    served.map_err(ServerError::from)
}
