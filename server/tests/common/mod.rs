//! Test helpers: start the real server on a free port against a fresh
//! database (MariaDB or an embedded SQLite file) and Redis namespace, then
//! talk to it over HTTP and WebSocket like a browser would.
#![allow(dead_code, clippy::unwrap_used)]

pub mod crafted;

use app::protocol::{ApiError, ClientFrame, RoomId, ServerFrame};
use futures::{SinkExt, StreamExt};
use server::config::Config;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// The start of every HTTP client in the tests: a request the server never
/// answers fails after [`WAIT`] (naming its URL) instead of hanging the run.
pub fn http() -> reqwest::ClientBuilder {
    reqwest::Client::builder().timeout(WAIT)
}

/// `GET url` with a client from [`http`].
pub async fn get(url: &str) -> reqwest::Result<reqwest::Response> {
    http().build()?.get(url).send().await
}

pub fn mysql_admin_url() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The S3-compatible server the tests use (`moto_server`, started by the
/// test scripts).
pub fn s3_endpoint() -> String {
    std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5055".into())
}

/// A new, empty bucket on [`s3_endpoint`], as storage settings for a node.
pub async fn s3_bucket() -> server::config::Storage {
    let bucket = unique("natter-test").replace('_', "-").to_ascii_lowercase();
    let created = http()
        .build()
        .unwrap()
        .put(format!("{}/{bucket}", s3_endpoint()))
        .send()
        .await
        .expect("the S3 test server (moto_server) answers");
    assert!(
        created.status().is_success(),
        "bucket not created: {}",
        created.status()
    );
    let option = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    server::config::Storage {
        url: format!("s3://{bucket}"),
        options: vec![
            option("aws_endpoint", &s3_endpoint()),
            option("aws_allow_http", "true"),
            option("aws_access_key_id", "test"),
            option("aws_secret_access_key", "test"),
            option("aws_region", "us-east-1"),
        ],
    }
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos:x}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Which storage and fan-out a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + in-process fan-out: what `cargo leptos watch` runs with no env.
    Embedded,
    /// MariaDB + Redis, as in production.
    MariaDbRedis,
}

/// An isolated database (and Redis namespace) that is dropped with the value.
pub struct Environment {
    pub backend: Backend,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    /// Where its nodes keep uploaded files (shared by them, as a mounted
    /// folder would be); removed with the value.
    pub data_dir: std::path::PathBuf,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    MySql { admin: String, name: String },
    File(std::path::PathBuf),
}

impl Environment {
    pub async fn new(backend: Backend) -> Self {
        let redis_prefix = unique("natter-test");
        let data_dir = std::env::temp_dir().join(unique("natter-files"));
        match backend {
            Backend::Embedded => {
                let path = std::env::temp_dir().join(format!("{}.db", unique("natter")));
                Self {
                    backend,
                    database_url: format!("sqlite://{}?mode=rwc", path.display()),
                    redis_url: None,
                    redis_prefix,
                    data_dir,
                    cleanup: Some(Cleanup::File(path)),
                }
            }
            Backend::MariaDbRedis => {
                let admin = mysql_admin_url();
                let name = unique("natter_t");
                sqlx::any::install_default_drivers();
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
                Self {
                    backend,
                    database_url: format!("{base}/{name}"),
                    redis_url: Some(redis_url()),
                    redis_prefix,
                    data_dir,
                    cleanup: Some(Cleanup::MySql { admin, name }),
                }
            }
        }
    }

    pub fn config(&self) -> Config {
        let mut config = Config::new(self.database_url.clone(), self.redis_url.clone());
        config.redis_prefix = self.redis_prefix.clone();
        config.uploads.data_dir = self.data_dir.clone();
        config.timings.session_recheck = Duration::from_millis(500);
        config.timings.repair_every = Duration::from_millis(300);
        // Tests send fast on purpose; the limit tests lower this again.
        config.limits.messages = app::backend::limits::Rate {
            burst: 100_000,
            per_minute: 6_000_000,
        };
        config
    }

    /// Starts one server node on this environment.
    pub async fn node(&self) -> TestServer {
        TestServer::start(self.config()).await
    }

    /// Runs the real `server` binary's admin command (`disable-user NAME`…)
    /// against this environment's database (and Redis, if it has one);
    /// returns success and its output.
    pub async fn admin(&self, args: &[&str]) -> (bool, String) {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn");
        if let Some(redis) = &self.redis_url {
            command.env("REDIS_URL", redis).env("REDIS_PREFIX", &self.redis_prefix);
        }
        let out = command.output().await.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// A node that reaches Redis through a proxy the test can cut.
    pub async fn node_behind_redis_proxy(&self) -> (TestServer, Proxy) {
        let url = self.redis_url.as_deref().expect("a Redis environment");
        let proxy = Proxy::start(host_port(url)).await;
        let mut config = self.config();
        config.redis_url = Some(via(url, proxy.addr));
        (TestServer::start(config).await, proxy)
    }

    /// A node that reaches the database through a proxy the test can cut.
    pub async fn node_behind_database_proxy(&self) -> (TestServer, Proxy) {
        self.node_behind_database_proxy_with(self.config()).await
    }

    /// [`Environment::node_behind_database_proxy`] with a config of the test's.
    pub async fn node_behind_database_proxy_with(&self, mut config: Config) -> (TestServer, Proxy) {
        let proxy = Proxy::start(host_port(&self.database_url)).await;
        config.database_url = via(&self.database_url, proxy.addr);
        (TestServer::start(config).await, proxy)
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        match self.cleanup.take() {
            Some(Cleanup::File(path)) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Some(Cleanup::MySql { admin, name }) => {
                // Drop runs inside the test's runtime, which cannot block on
                // itself: use a short-lived runtime on another thread.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(mut conn) = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                                .execute(&mut conn)
                                .await;
                        }
                    });
                })
                .join();
            }
            None => {}
        }
    }
}

/// A running server node: inside the test's process, or the real binary.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The `server` binary, when started as one (killed on drop).
    process: Option<tokio::process::Child>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        // Server logs show with a failing test's output (RUST_LOG to tune).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = leptos::prelude::LeptosOptions::builder()
            .output_name("natter")
            .site_addr(addr)
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = ready_tx.send(());
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = server::run(listener, config, options, shutdown).await {
                panic!("server failed: {e}");
            }
        });
        ready_rx.await.unwrap();
        let server = Self {
            addr,
            stop: Some(stop),
            task: Some(task),
            process: None,
        };
        server.wait_healthy().await;
        server
    }

    /// Starts the real `server` binary on `env`, configured through the
    /// environment as an operator would, with test-friendly message limits.
    pub async fn binary(env: &Environment) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .env("DATABASE_URL", &env.database_url)
            .env("REDIS_PREFIX", &env.redis_prefix)
            .env("DATA_DIR", &env.data_dir)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("MESSAGE_BURST", "100000")
            .env("MESSAGES_PER_MINUTE", "6000000")
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(redis) = &env.redis_url {
            command.env("REDIS_URL", redis);
        }
        let mut process = command.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(process.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("Natter is running at http://") {
                    return url.parse::<SocketAddr>().unwrap();
                }
            }
            panic!("the server exited before it was running");
        })
        .await
        .expect("the server binary starts");
        let server = Self {
            addr,
            stop: None,
            task: None,
            process: Some(process),
        };
        server.wait_healthy().await;
        server
    }

    /// The resident memory of the server binary's process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.process.as_ref().and_then(|p| p.id()).expect("a server binary");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    async fn wait_healthy(&self) {
        let url = format!("http://{}/healthz", self.addr);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(resp) = get(&url).await
                && resp.status().is_success()
            {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "server did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Graceful stop, as on SIGTERM (the binary is simply killed).
    pub async fn stop(mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await.unwrap();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("server stops in time")
                .unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The body of `GET /healthz`.
    pub async fn health(&self) -> serde_json::Value {
        get(&self.url("/healthz")).await.unwrap().json().await.unwrap()
    }

    /// Calls a server function with form-encoded arguments, as the browser does.
    pub async fn call(&self, cookie: Option<&str>, endpoint: &str, form: &[(&str, &str)]) -> Reply {
        let client = http().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let mut request = client.post(self.url(&format!("/api/{endpoint}"))).form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let set_cookie_header = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookie = set_cookie_header
            .as_deref()
            .map(|v| v.split(';').next().unwrap_or_default().to_owned());
        let body = response.text().await.unwrap();
        Reply {
            status,
            set_cookie,
            set_cookie_header,
            body,
        }
    }

    /// Signs up `username` and returns the session cookie (`natter_session=…`).
    pub async fn sign_up(&self, username: &str) -> String {
        let reply = self
            .call(None, "signup", &[("username", username), ("password", "correct horse")])
            .await;
        assert_eq!(reply.status, 200, "sign-up failed: {}", reply.body);
        reply.set_cookie.expect("sign-up sets a session cookie")
    }

    pub async fn create_room(&self, cookie: &str, name: &str) -> RoomId {
        let reply = self
            .call(Some(cookie), "create_room", &[("name", name), ("topic", "")])
            .await;
        assert_eq!(reply.status, 200, "create_room failed: {}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }

    pub async fn ws(&self, cookie: &str) -> Ws {
        Ws::connect(self, Some(cookie), None).await.expect("upgrade accepted")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Reply {
    pub status: u16,
    /// `name=value` of the first `Set-Cookie`, ready to send back.
    pub set_cookie: Option<String>,
    /// The whole first `Set-Cookie` header, attributes included.
    pub set_cookie_header: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn error(&self) -> ApiError {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not an ApiError ({e}): {}", self.body))
    }
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame, with its code.
    Closed(Option<u16>),
    /// The connection dropped without a close frame.
    Reset,
    /// Nothing happened within the wait.
    StillOpen,
}

/// A WebSocket client speaking Natter's protocol.
pub struct Ws {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames `recv_until` skipped, for [`Ws::wait_for`].
    skipped: std::collections::VecDeque<ServerFrame>,
    /// Each room's online list as a client keeps it: set by `Joined` (or a
    /// whole `Online` list), then changed by every `Presence`.
    online: std::collections::HashMap<RoomId, Vec<String>>,
}

impl Ws {
    /// Opens `/ws`; `Err(status)` when the upgrade is refused.
    pub async fn connect(server: &TestServer, cookie: Option<&str>, origin: Option<&str>) -> Result<Ws, u16> {
        Self::connect_to(server.addr, cookie, origin).await
    }

    pub async fn connect_to(addr: SocketAddr, cookie: Option<&str>, origin: Option<&str>) -> Result<Ws, u16> {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        if let Some(cookie) = cookie {
            request.headers_mut().insert("cookie", cookie.parse().unwrap());
        }
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((inner, _)) => Ok(Ws {
                inner,
                skipped: Default::default(),
                online: Default::default(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(&serde_json::to_string(frame).unwrap()).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.inner.send(Message::text(text)).await.unwrap();
    }

    /// The next protocol frame (pings are skipped); panics after [`WAIT`].
    pub async fn recv(&mut self) -> ServerFrame {
        self.try_recv(WAIT).await.expect("a frame within the wait")
    }

    /// The next frame within `wait`, or `None` (timeout or closed).
    pub async fn try_recv(&mut self, wait: Duration) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.inner.next()).await.ok()??;
            match next {
                Ok(Message::Text(text)) => {
                    if std::env::var_os("WS_DEBUG").is_some() {
                        eprintln!("<- {text}");
                    }
                    let frame = serde_json::from_str(&text).unwrap();
                    self.track_online(&frame);
                    return Some(frame);
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    fn track_online(&mut self, frame: &ServerFrame) {
        match frame {
            ServerFrame::Joined { room, online } | ServerFrame::Online { room, online } => {
                self.online.insert(*room, online.clone());
            }
            ServerFrame::Presence { room, username, joined } => {
                app::protocol::apply_presence(self.online.entry(*room).or_default(), username, *joined);
            }
            _ => {}
        }
    }

    /// Reads frames until the online list this client keeps for `room` is
    /// `want`; panics after [`WAIT`]. (Skipped frames go to `wait_for`.)
    pub async fn online_becomes(&mut self, room: RoomId, want: &[&str]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.online.get(&room).is_none_or(|names| names != want) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(frame) => {
                    if self.skipped.len() == 10_000 {
                        self.skipped.pop_front();
                    }
                    self.skipped.push_back(frame);
                }
                None => panic!("online list {:?}, never {want:?}", self.online.get(&room)),
            }
        }
    }

    /// Whether a frame some wait skipped over matches.
    pub fn skipped_any(&self, pred: impl FnMut(&ServerFrame) -> bool) -> bool {
        self.skipped.iter().any(pred)
    }

    /// Skips frames until one matches; panics after [`WAIT`].
    pub async fn recv_until(&mut self, mut pred: impl FnMut(&ServerFrame) -> bool) -> ServerFrame {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(frame) if pred(&frame) => return frame,
                Some(frame) => {
                    if self.skipped.len() == 10_000 {
                        self.skipped.pop_front();
                    }
                    self.skipped.push_back(frame);
                }
                None => panic!("no matching frame within {WAIT:?}"),
            }
        }
    }

    /// Like `recv_until`, but also finds a matching frame that an earlier
    /// wait skipped over (frames of one kind can interleave with others).
    pub async fn wait_for(&mut self, mut pred: impl FnMut(&ServerFrame) -> bool) -> ServerFrame {
        if let Some(i) = self.skipped.iter().position(&mut pred) {
            return self.skipped.remove(i).unwrap();
        }
        self.recv_until(pred).await
    }

    /// Joins `room` and returns the catch-up it answers with.
    pub async fn join(&mut self, room: RoomId, since: i64) -> Vec<app::protocol::ChatMessage> {
        self.send(&ClientFrame::Join { room, since }).await;
        self.recv_until(|f| matches!(f, ServerFrame::Joined { room: r, .. } if *r == room))
            .await;
        match self
            .recv_until(|f| matches!(f, ServerFrame::CatchUp { room: r, .. } if *r == room))
            .await
        {
            ServerFrame::CatchUp { events, .. } => events
                .into_iter()
                .filter_map(|e| match e {
                    app::protocol::LogEntry::Posted(m) => Some(m),
                    app::protocol::LogEntry::Updated(_) => None,
                })
                .collect(),
            _ => unreachable!(),
        }
    }

    /// Sends a message and waits for its acknowledgement; returns its sequence.
    pub async fn post(&mut self, room: RoomId, client_id: &str, body: &str) -> i64 {
        self.send(&ClientFrame::Send {
            room,
            client_id: client_id.into(),
            body: body.into(),
            reply_to: None,
            attachment: None,
        })
        .await;
        match self
            .recv_until(|f| {
                matches!(f, ServerFrame::Ack { client_id: c, .. } if c == client_id)
                    || matches!(f, ServerFrame::Error { client_id: Some(c), .. } if c == client_id)
            })
            .await
        {
            ServerFrame::Ack { seq, .. } => seq,
            other => panic!("send refused: {other:?}"),
        }
    }

    /// Waits for the next live chat message in any room (one that an
    /// earlier wait skipped comes first: a sender may get its own message
    /// before the acknowledgement `post` waited for).
    pub async fn next_message(&mut self) -> app::protocol::ChatMessage {
        match self.wait_for(|f| matches!(f, ServerFrame::Message { .. })).await {
            ServerFrame::Message { message } => message,
            _ => unreachable!(),
        }
    }

    /// Every frame until the connection ends, and how it ended (waiting at
    /// most [`WAIT`] in all).
    pub async fn read_to_end(&mut self) -> (Vec<ServerFrame>, Ended) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Err(_) => return (frames, Ended::StillOpen),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (frames, Ended::Closed(frame.map(|f| u16::from(f.code))));
                }
                Ok(Some(Ok(Message::Text(text)))) => frames.extend(serde_json::from_str(&text).ok()),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => return (frames, Ended::Reset),
            }
        }
    }

    /// How the connection ended, waiting at most [`WAIT`].
    pub async fn ended(&mut self) -> Ended {
        self.read_to_end().await.1
    }

    /// Waits for the server to close the socket; returns its close code.
    pub async fn closed_with(&mut self) -> Option<u16> {
        match self.ended().await {
            Ended::Closed(code) => code,
            Ended::Reset | Ended::StillOpen => None,
        }
    }

    pub async fn close(mut self) {
        let _ = self.inner.close(None).await;
    }

    /// Sends a close frame but keeps the connection, unread frames and all
    /// (dropping it with frames unread would make the kernel reset it).
    pub async fn say_goodbye(&mut self) {
        let _ = self.inner.close(None).await;
    }
}

/// Defines `mod embedded` and `mod mariadb_redis`, each running `$body`
/// (an async fn taking a [`Backend`]) as one test per name. The second set
/// needs MariaDB and Redis, so it is `#[ignore]`d: plain `cargo test` runs
/// on the embedded default alone, and `cargo test -- --include-ignored`
/// (what `.ci/test` runs) runs both.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Embedded).await
                }
            )*
        }
        mod mariadb_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
                async fn $name() {
                    super::$name($crate::common::Backend::MariaDbRedis).await
                }
            )*
        }
    };
}

/// A TCP proxy the test controls, to cut a server off from MariaDB or Redis
/// (or slow its answers down) without touching the shared services.
pub struct Proxy {
    pub addr: SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Milliseconds each chunk from upstream is held before it is passed on.
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let delay_ms = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let (cut, links, delay_ms) = (cut.clone(), links.clone(), delay_ms.clone());
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound); // refused while cut
                        continue;
                    }
                    let upstream = upstream.clone();
                    let delay_ms = delay_ms.clone();
                    let link = tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let Ok(outbound) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let (mut in_read, mut in_write) = inbound.into_split();
                        let (mut out_read, mut out_write) = outbound.into_split();
                        let requests = async move {
                            let copied = tokio::io::copy(&mut in_read, &mut out_write).await;
                            let _ = out_write.shutdown().await;
                            copied
                        };
                        let replies = async move {
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                let n = out_read.read(&mut buf).await?;
                                if n == 0 {
                                    return Ok::<_, std::io::Error>(());
                                }
                                let delay = delay_ms.load(Ordering::SeqCst);
                                if delay > 0 {
                                    tokio::time::sleep(Duration::from_millis(delay)).await;
                                }
                                in_write.write_all(&buf[..n]).await?;
                            }
                        };
                        let _ = tokio::join!(requests, replies);
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Proxy {
            addr,
            cut,
            delay_ms,
            links,
            accept,
        }
    }

    /// Holds every later chunk of the upstream's answers for `delay` before
    /// passing it on (zero: no delay). Requests still go through at once.
    pub fn delay_replies(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap();
        self.delay_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `host:port` of a `scheme://[user@]host:port[/…]` URL.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    rest.split('/').next().unwrap().to_owned()
}

/// `url` with its `host:port` replaced by `addr`.
pub fn via(url: &str, addr: SocketAddr) -> String {
    url.replacen(&host_port(url), &addr.to_string(), 1)
}
