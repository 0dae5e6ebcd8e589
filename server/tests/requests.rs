//! Requests that are not what a server function expects: each is answered
//! with the status that says why (400 malformed, 413 too large), never 500,
//! and stores nothing.
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::ErrorCode;
use common::{Backend, Environment, TestServer};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Posts `body` as it is, with `content_type`, to `/api/{endpoint}`.
async fn post_raw(
    server: &TestServer,
    cookie: &str,
    endpoint: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let client = common::http().build().unwrap();
    let response = client
        .post(server.url(&format!("/api/{endpoint}")))
        .header("cookie", cookie)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// How a raw request's body is framed.
#[derive(Clone, Copy)]
enum Framing {
    /// `Content-Length` declared up front.
    Declared,
    /// `Transfer-Encoding: chunked`, so the size is only known by reading.
    Chunked,
}

/// Sends `total` bytes of form body over a raw connection and returns the
/// status line's code. Raw, because the server answers a body that is too
/// large before reading all of it and closes: an HTTP client would report
/// the broken pipe of its unfinished write instead of the answer.
async fn post_sized(server: &TestServer, cookie: &str, endpoint: &str, total: usize, framing: Framing) -> u16 {
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let length = match framing {
        Framing::Declared => format!("Content-Length: {total}"),
        Framing::Chunked => "Transfer-Encoding: chunked".to_owned(),
    };
    let head = format!(
        "POST /api/{endpoint} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{length}\r\n\r\n",
        server.addr
    );
    // The writer stops at the first failed write (the server has answered).
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let mut sent = 0;
        while sent < total {
            let chunk = vec![b'a'; (total - sent).min(64 * 1024)];
            match framing {
                Framing::Declared => write.write_all(&chunk).await?,
                Framing::Chunked => {
                    write.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
                    write.write_all(&chunk).await?;
                    write.write_all(b"\r\n").await?;
                }
            }
            sent += chunk.len();
        }
        if let Framing::Chunked = framing {
            write.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(write)
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(common::WAIT, read.read(&mut buf))
            .await
            .expect("an answer within the wait")
            .unwrap();
        assert!(n > 0, "the connection closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    writer.abort();
    let line = String::from_utf8_lossy(&answer);
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_server_function_requests_are_answered_400_and_store_nothing() {
    let env = Environment::new(Backend::Embedded).await;
    let server = env.node().await;
    let cookie = server.sign_up("mallory").await;
    let form = "application/x-www-form-urlencoded";
    let bodies: [(&str, &str, Vec<u8>); 4] = [
        (
            "a JSON body",
            "application/json",
            br#"{"name":"Json","topic":""}"#.to_vec(),
        ),
        (
            "an XML body",
            "application/xml",
            b"<room><name>Xml</name><topic/></room>".to_vec(),
        ),
        (
            "a multipart body",
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nMultipart\r\n--XyZ--\r\n".to_vec(),
        ),
        (
            "a binary body",
            "application/octet-stream",
            (0..=255u8).cycle().take(4096).collect(),
        ),
    ];
    for (what, content_type, body) in bodies {
        let (status, text) = post_raw(&server, &cookie, "create_room", content_type, body).await;
        assert_eq!(status, 400, "create_room with {what}: {text}");
        let error: app::protocol::ApiError = serde_json::from_str(&text).unwrap();
        assert_eq!(error.code, ErrorCode::Invalid, "{what}");
        assert!(error.message.starts_with("The request was malformed"), "{what}: {text}");
    }
    let forms = [
        ("room", "room=abc"),
        ("room", "room=99999999999999999999"),
        ("room", "room=1e309"),
        ("room", ""),
        ("room", "room=1&room=2"),
        ("room", "&&&=&=="),
        ("history", "room=1"),
        ("history", "room=1&before=x"),
        ("create_room", ""),
        ("create_room", "&&&=&=="),
        ("create_room", "name=A&name=B&topic="),
        ("add_member", "room=-&username=x"),
    ];
    for (endpoint, body) in forms {
        let (status, text) = post_raw(&server, &cookie, endpoint, form, body.as_bytes().to_vec()).await;
        assert_eq!(status, 400, "{endpoint} with {body:?}: {text}");
    }

    // Too large: 413 whether the length is declared or the body is chunked.
    let big = 10 * 1024 * 1024;
    assert_eq!(
        post_sized(&server, &cookie, "create_room", big, Framing::Declared).await,
        413,
        "a declared 10 MiB body"
    );
    assert_eq!(
        post_sized(&server, &cookie, "create_room", big, Framing::Chunked).await,
        413,
        "a chunked 10 MiB body"
    );
    // A chunked body under the limit is read as usual.
    let reply = server.call(Some(&cookie), "rooms", &[]).await;
    assert_eq!(reply.status, 200);
    let rooms: Vec<app::protocol::RoomSummary> = serde_json::from_str(&reply.body).unwrap();
    assert!(rooms.is_empty(), "nothing was created: {rooms:?}");
    assert_eq!(post_sized(&server, &cookie, "rooms", 10, Framing::Chunked).await, 200);
    assert_eq!(post_sized(&server, &cookie, "rooms", 10, Framing::Declared).await, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn a_request_stuck_on_the_database_is_answered_503_at_its_deadline() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let mut config = env.config();
    config.timings.request_deadline = Duration::from_secs(1);
    let (server, proxy) = env.node_behind_database_proxy_with(config).await;
    let cookie = server.sign_up("patient").await;
    // Every answer from the database now takes longer than the deadline.
    proxy.delay_replies(Duration::from_secs(3));
    let client = common::http().build().unwrap();
    for path in ["/", "/api/rooms"] {
        let started = std::time::Instant::now();
        let request = if path.starts_with("/api/") {
            client.post(server.url(path))
        } else {
            client.get(server.url(path))
        };
        let response = request.header("cookie", &cookie).send().await.unwrap();
        let waited = started.elapsed();
        assert_eq!(response.status().as_u16(), 503, "{path}");
        assert_eq!(response.headers()["retry-after"], "5", "{path}");
        assert!(
            response.text().await.unwrap().contains("took too long"),
            "{path}: says why"
        );
        assert!(
            waited < Duration::from_secs(3),
            "{path}: answered at the deadline, not when the database did ({waited:?})"
        );
    }
    proxy.delay_replies(Duration::ZERO);
    // Once the database answers again, so does the server.
    let reply = server.call(Some(&cookie), "rooms", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    server.stop().await;
}

/// Pages render while other servers start in the same process (as the
/// integration tests start them in parallel): a server's start once made a
/// page of another's wait forever (leptos suppresses resource loading,
/// process-wide, while it lists the app's routes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_other_servers_start_in_the_same_process() {
    let env = Environment::new(Backend::Embedded).await;
    let server = env.node().await;
    let cookie = server.sign_up("steady").await;
    let room = server.create_room(&cookie, "Steady").await;
    let starting = tokio::spawn(async move {
        for _ in 0..8 {
            let env = Environment::new(Backend::Embedded).await;
            env.node().await.stop().await;
        }
    });
    let client = common::http().build().unwrap();
    let mut pages = 0;
    while !starting.is_finished() {
        let mut batch = Vec::new();
        for path in ["/".to_owned(), format!("/rooms/{room}")] {
            for _ in 0..4 {
                let request = client.get(server.url(&path)).header("cookie", &cookie).send();
                let path = path.clone();
                batch.push(async move { (path, request.await) });
            }
        }
        for (path, response) in futures::future::join_all(batch).await {
            let response = response.unwrap_or_else(|e| panic!("{path} was not answered: {e}"));
            assert_eq!(response.status(), 200, "{path}");
            pages += 1;
        }
    }
    starting.await.unwrap();
    assert!(pages > 0);
    server.stop().await;
}
