//! Uploads and downloads over HTTP, as a browser does them: crafted files
//! (see `common::crafted`) go in, and what comes out is checked byte by
//! byte and header by header; who may fetch what is checked per request.
#![allow(clippy::unwrap_used)]

mod common;

use app::backend::limits::Rate;
use app::protocol::{ApiError, Attachment, ClientFrame, ErrorCode, RoomId, ServerFrame};
use common::crafted::*;
use common::{Backend, Environment, TestServer, http};
use image::{GenericImageView, ImageFormat};

on_both_backends!(
    a_phone_photo_comes_back_upright_without_its_secrets,
    what_is_not_an_image_is_only_ever_a_download,
    bombs_and_broken_images_are_refused_with_a_reason,
    nobody_but_the_uploader_fetches_an_unposted_file,
    files_past_the_size_limit_are_refused_before_they_are_read,
    uploads_are_rate_limited_and_count_against_a_quota,
    unattached_uploads_and_their_bytes_are_swept,
    posted_files_answer_to_whoever_may_read_the_room_now
);

/// Uploads `bytes` as `name`; the status and the body (an [`Attachment`] or an [`ApiError`]).
async fn upload(server: &TestServer, cookie: Option<&str>, name: &str, bytes: Vec<u8>) -> (u16, String) {
    upload_within(common::WAIT, server, cookie, name, bytes).await
}

/// [`upload`], allowed `wait` to finish.
async fn upload_within(
    wait: std::time::Duration,
    server: &TestServer,
    cookie: Option<&str>,
    name: &str,
    bytes: Vec<u8>,
) -> (u16, String) {
    let mut request = http()
        .timeout(wait)
        .build()
        .unwrap()
        .post(server.url(&format!("/api/uploads?name={}", app::validate::path_segment(name))))
        .header("content-type", "image/png") // what the browser claims counts for nothing
        .body(bytes);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn uploaded(server: &TestServer, cookie: &str, name: &str, bytes: Vec<u8>) -> Attachment {
    let (status, body) = upload(server, Some(cookie), name, bytes).await;
    assert_eq!(status, 201, "upload of {name} refused: {body}");
    serde_json::from_str(&body).unwrap()
}

fn refusal(body: &str) -> ApiError {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an ApiError ({e}): {body}"))
}

async fn fetch(server: &TestServer, cookie: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = http().build().unwrap().get(server.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// The headers every file answer carries, whatever the file.
fn assert_file_headers(response: &reqwest::Response) {
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    let csp = header(response, "content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("sandbox"), "{csp}");
    let cache = header(response, "cache-control");
    assert!(cache.contains("private") && !cache.contains("public"), "{cache}");
}

async fn a_phone_photo_comes_back_upright_without_its_secrets(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let ann = server.sign_up("ann").await;

    let photo = phone_photo();
    let attachment = uploaded(&server, &ann, "IMG_0001.jpg", photo).await;
    assert_eq!(attachment.mime, "image/jpeg");
    assert_eq!((attachment.width, attachment.height), (Some(20), Some(40)), "upright");
    assert_eq!(attachment.name, "IMG_0001.jpg");

    let response = fetch(&server, Some(&ann), &attachment.url()).await;
    assert_eq!(response.status(), 200);
    assert_file_headers(&response);
    assert_eq!(header(&response, "content-type"), "image/jpeg");
    assert_eq!(
        header(&response, "content-disposition"),
        "inline; filename=\"IMG_0001.jpg\"; filename*=UTF-8''IMG_0001.jpg"
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, attachment.size);
    for secret in [&b"Exif"[..], b"Secret Street", b"TRAILING", b"xmpmeta"] {
        assert!(
            !contains(&bytes, secret),
            "{} was served",
            String::from_utf8_lossy(secret)
        );
    }
    assert_eq!(image::load_from_memory(&bytes).unwrap().dimensions(), (20, 40));

    // Unchanged since: the browser's copy is confirmed, after the same check.
    let etag = header(&fetch(&server, Some(&ann), &attachment.url()).await, "etag").to_owned();
    let again = http()
        .build()
        .unwrap()
        .get(server.url(&attachment.url()))
        .header("cookie", &ann)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_file_headers(&again);

    // A large photo gets a preview at most 960 a side; the original stays whole.
    let big = uploaded(
        &server,
        &ann,
        "wide.png",
        encoded(&halves(2000, 1000), ImageFormat::Png),
    )
    .await;
    assert!(big.has_preview);
    let preview = fetch(&server, Some(&ann), &big.preview_url()).await;
    assert_eq!(preview.status(), 200);
    assert_file_headers(&preview);
    let small = image::load_from_memory(&preview.bytes().await.unwrap()).unwrap();
    assert_eq!(small.dimensions(), (960, 480));
}

async fn what_is_not_an_image_is_only_ever_a_download(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let ann = server.sign_up("ann").await;

    for (name, bytes) in [
        ("cat.png", HTML_PAGE.to_vec()),
        ("logo.svg", SVG_WITH_SCRIPT.to_vec()),
        ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj".to_vec()),
    ] {
        let attachment = uploaded(&server, &ann, name, bytes.clone()).await;
        assert!(!attachment.is_image(), "{name}: {attachment:?}");
        assert_eq!((attachment.width, attachment.has_preview), (None, false));
        let response = fetch(&server, Some(&ann), &attachment.url()).await;
        assert_eq!(response.status(), 200);
        assert_file_headers(&response);
        assert_eq!(header(&response, "content-type"), "application/octet-stream", "{name}");
        let disposition = header(&response, "content-disposition");
        assert!(disposition.starts_with("attachment;"), "{name}: {disposition}");
        assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[..], "kept as uploaded");
    }
    assert_eq!(
        uploaded(&server, &ann, "report.pdf", b"%PDF-1.7\n".to_vec()).await.mime,
        "application/pdf",
        "shown by its sniffed type"
    );

    // A name is a label, escaped in the header; it never reaches a path.
    let odd = uploaded(&server, &ann, "../../\"报告\"\r\n.txt", b"plain words".to_vec()).await;
    assert_eq!(odd.name, "\"报告\".txt");
    let response = fetch(&server, Some(&ann), &odd.url()).await;
    assert_eq!(
        header(&response, "content-disposition"),
        "attachment; filename=\"____.txt\"; filename*=UTF-8''%22%E6%8A%A5%E5%91%8A%22.txt"
    );
    // A PNG with a page after its end comes out as just the PNG.
    let mut polyglot = encoded(&halves(8, 8), ImageFormat::Png);
    polyglot.extend_from_slice(HTML_PAGE);
    let png = uploaded(&server, &ann, "poly.png", polyglot).await;
    let bytes = fetch(&server, Some(&ann), &png.url()).await.bytes().await.unwrap();
    assert!(!contains(&bytes, b"<script>"));
}

async fn bombs_and_broken_images_are_refused_with_a_reason(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let ann = server.sign_up("ann").await;

    let (status, body) = upload(&server, Some(&ann), "bomb.png", png_claiming(50_000, 50_000)).await;
    assert_eq!(status, 400, "{body}");
    assert!(refusal(&body).message.contains("too large"), "{body}");

    let (status, body) = upload(&server, Some(&ann), "long.gif", gif_frames(1000, 101)).await;
    assert_eq!(status, 400, "{body}");
    assert!(refusal(&body).message.contains("animation is too long"), "{body}");

    let png = encoded(&halves(64, 64), ImageFormat::Png);
    let (status, body) = upload(&server, Some(&ann), "cut.png", png[..png.len() / 2].to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(refusal(&body).message.contains("could not be read"), "{body}");

    let (status, body) = upload(&server, Some(&ann), "empty.txt", Vec::new()).await;
    assert_eq!((status, refusal(&body).message.as_str()), (400, "That file is empty."));

    // Nothing refused was kept, and the server is fine.
    assert_eq!(server.health().await["status"], "ok");
}

async fn nobody_but_the_uploader_fetches_an_unposted_file(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let ann = server.sign_up("ann").await;
    let bob = server.sign_up("bob").await;
    let file = uploaded(&server, &ann, "notes.txt", b"ann's notes".to_vec()).await;
    let image = uploaded(&server, &ann, "big.jpg", encoded(&halves(1200, 600), ImageFormat::Jpeg)).await;

    assert_eq!(fetch(&server, Some(&ann), &file.url()).await.status(), 200);
    // Bob, a stranger and a made-up id all get the same answer.
    let missing = format!("/files/{}/notes.txt", "0".repeat(32));
    let mut answers = Vec::new();
    for (cookie, path) in [
        (Some(bob.as_str()), file.url()),
        (Some(bob.as_str()), image.preview_url()),
        (None, file.url()),
        (Some(bob.as_str()), missing),
        (Some(bob.as_str()), "/files/not-an-id/x".to_owned()),
    ] {
        let response = fetch(&server, cookie, &path).await;
        let status = response.status().as_u16();
        answers.push((status, response.text().await.unwrap()));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 404);
    assert_eq!(refusal(&answers[0].1).code, ErrorCode::NotFound);

    // Uploading takes a session, and a same-site request.
    let (status, _) = upload(&server, None, "x.txt", b"x".to_vec()).await;
    assert_eq!(status, 401);
    let cross = http()
        .build()
        .unwrap()
        .post(server.url("/api/uploads?name=x.txt"))
        .header("cookie", &ann)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
}

async fn files_past_the_size_limit_are_refused_before_they_are_read(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    config.limits.upload_bytes = 1024 * 1024;
    let server = TestServer::start(config).await;
    let ann = server.sign_up("ann").await;

    // Declared too large: refused from its length, its body never read.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/uploads?name=big.bin HTTP/1.1\r\nHost: {}\r\nCookie: {ann}\r\n\
         Content-Length: 104857600\r\nContent-Type: application/octet-stream\r\n\r\n",
        server.addr
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(common::WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("limited to 1 MiB"), "{answer}");

    // Sent without a length (chunked): cut off as it passes the limit.
    let chunks = futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![7u8; 64 * 1024])));
    let response = http()
        .build()
        .unwrap()
        .post(server.url("/api/uploads?name=stream.bin"))
        .header("cookie", &ann)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(refusal(&response.text().await.unwrap()).code, ErrorCode::TooLarge);

    // Just under the limit is fine; the rest of the site keeps its 64 KiB.
    uploaded(&server, &ann, "ok.bin", vec![1u8; 1024 * 1024]).await;
    let reply = server
        .call(
            Some(&ann),
            "create_room",
            &[("name", &"x".repeat(70 * 1024)), ("topic", "")],
        )
        .await;
    assert_eq!(reply.status, 413);
}

async fn uploads_are_rate_limited_and_count_against_a_quota(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    config.limits.uploads = Rate {
        burst: 3,
        per_minute: 1,
    };
    config.uploads.quota_bytes = Some(1024 * 1024);
    let server = TestServer::start(config).await;
    let ann = server.sign_up("ann").await;
    let bob = server.sign_up("bob").await;

    uploaded(&server, &ann, "a.bin", vec![1u8; 600 * 1024]).await;
    let (status, body) = upload(&server, Some(&ann), "b.bin", vec![2u8; 600 * 1024]).await;
    assert_eq!(status, 413, "{body}");
    assert!(refusal(&body).message.contains("quota of 1 MiB"), "{body}");
    uploaded(&server, &ann, "c.bin", vec![3u8; 1000]).await;
    let (status, body) = upload(&server, Some(&ann), "d.bin", vec![4u8; 10]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(refusal(&body).code, ErrorCode::RateLimited);
    // Per person: Bob is unaffected.
    uploaded(&server, &bob, "e.bin", vec![5u8; 10]).await;
}

async fn unattached_uploads_and_their_bytes_are_swept(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let ann = server.sign_up("ann").await;
    let bob = server.sign_up("bob").await;
    // The same bytes twice: stored once, under their hash.
    let first = uploaded(&server, &ann, "one.txt", b"same bytes".to_vec()).await;
    let second = uploaded(&server, &bob, "two.txt", b"same bytes".to_vec()).await;
    assert_ne!(first.id, second.id);
    let stored = || {
        walk(&env.data_dir.join("blobs"))
            .into_iter()
            .filter(|path| std::fs::read(path).is_ok_and(|b| b == b"same bytes"))
            .count()
    };
    assert_eq!(stored(), 1);

    let files = server::files::Files::new(&env.config().uploads).unwrap();
    let store = app::backend::Store::connect(&env.database_url, 2).await.unwrap();
    let now = std::time::SystemTime::now();
    // Within the grace period nothing goes.
    let swept = server::files::sweep::sweep(&store, &files, now).await.unwrap();
    assert_eq!((swept.uploads, swept.blobs), (0, 0));
    assert_eq!(fetch(&server, Some(&ann), &first.url()).await.status(), 200);
    // After it, both uploads and then their bytes.
    let later = now + env.config().uploads.unattached_grace + std::time::Duration::from_secs(60);
    let swept = server::files::sweep::sweep(&store, &files, later).await.unwrap();
    assert_eq!((swept.uploads, swept.blobs), (2, 1));
    assert_eq!(stored(), 0);
    assert_eq!(fetch(&server, Some(&ann), &first.url()).await.status(), 404);
    store.close().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Posts `file` to `room` over `ws` (with no words); the server's answer.
async fn post_file(ws: &mut common::Ws, room: RoomId, client_id: &str, file: &str) -> ServerFrame {
    ws.send(&ClientFrame::Send {
        room,
        client_id: client_id.into(),
        body: String::new(),
        reply_to: None,
        attachment: Some(file.into()),
    })
    .await;
    ws.recv_until(|f| {
        matches!(f, ServerFrame::Ack { client_id: c, .. } if c == client_id)
            || matches!(f, ServerFrame::Error { client_id: Some(c), .. } if c == client_id)
    })
    .await
}

async fn posted_files_answer_to_whoever_may_read_the_room_now(backend: Backend) {
    let env = Environment::new(backend).await;
    // On MariaDB and Redis, two nodes sharing the files' folder: upload
    // through one, fetch through the other. (The embedded default is one node.)
    let a = env.node().await;
    let second = match backend {
        Backend::MariaDbRedis => Some(env.node().await),
        Backend::Embedded => None,
    };
    let b = second.as_ref().unwrap_or(&a);
    let owner = a.sign_up("owner").await;
    let friend = a.sign_up("friend").await;
    let outsider = a.sign_up("outsider").await;
    let reply = a
        .call(
            Some(&owner),
            "create_room",
            &[("name", "secret"), ("topic", ""), ("private", "on")],
        )
        .await;
    let secret: RoomId = serde_json::from_str(&reply.body).unwrap();
    let added = a
        .call(
            Some(&owner),
            "add_member",
            &[("room", &secret.0.to_string()), ("username", "friend")],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);

    let photo = uploaded(&a, &owner, "secret.jpg", phone_photo()).await;
    let mut f = b.ws(&friend).await;
    f.join(secret, 0).await;
    // Only its uploader posts it.
    match post_file(&mut f, secret, "f1", &photo.id).await {
        ServerFrame::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::Invalid);
            assert!(message.contains("cannot be posted"), "{message}");
        }
        other => panic!("someone else's upload was posted: {other:?}"),
    }
    let mut o = a.ws(&owner).await;
    o.join(secret, 0).await;
    assert!(matches!(
        post_file(&mut o, secret, "o1", &photo.id).await,
        ServerFrame::Ack { .. }
    ));
    // Live to the member on the other node, file and all.
    let live = f.next_message().await;
    assert_eq!(live.attachment.as_deref(), Some(&photo));
    let id = live.id;
    // Posted once only.
    assert!(matches!(
        post_file(&mut o, secret, "o2", &photo.id).await,
        ServerFrame::Error { .. }
    ));

    let not_found = fetch(b, Some(&outsider), &format!("/files/{}/x", "0".repeat(32)))
        .await
        .text()
        .await
        .unwrap();
    for (who, cookie, status) in [
        ("owner", &owner, 200),
        ("friend", &friend, 200),
        ("outsider", &outsider, 404),
    ] {
        for path in [photo.url(), photo.preview_url()] {
            let response = fetch(b, Some(cookie), &path).await;
            assert_eq!(response.status(), status, "{who} {path}");
            if status == 404 {
                assert_eq!(response.text().await.unwrap(), not_found, "the same answer as no file");
            }
        }
    }
    // A member removed is cut off at once.
    let removed = a
        .call(
            Some(&owner),
            "remove_member",
            &[("room", &secret.0.to_string()), ("username", "friend")],
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    let response = fetch(b, Some(&friend), &photo.url()).await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), not_found);

    // Deleting the message removes the file for everyone.
    o.send(&ClientFrame::Delete {
        room: secret,
        client_id: "o3".into(),
        message: id,
    })
    .await;
    o.recv_until(|f| matches!(f, ServerFrame::Ack { client_id, .. } if client_id == "o3"))
        .await;
    assert_eq!(fetch(&a, Some(&owner), &photo.url()).await.status(), 404);
    assert_eq!(fetch(b, Some(&owner), &photo.preview_url()).await.status(), 404);
    let (page, _, _) = app::backend::Store::connect(&env.database_url, 1)
        .await
        .unwrap()
        .messages_before(secret, None, 10)
        .await
        .unwrap();
    assert_eq!(page[0].attachment, None);
}

/// Many large photos at once cost a bounded amount of memory: decoding runs
/// two at a time, whatever the number of uploads in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_photos_at_once_keep_memory_bounded() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let env = Environment::new(Backend::Embedded).await;
    let server = TestServer::binary(&env).await;
    let ann = server.sign_up("ann").await;
    // A 20-megapixel photo: 60 MB once decoded, whatever its file size.
    let photo = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(5000, 4000, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    }));
    let photo = encoded(&photo, ImageFormat::Jpeg);
    let before = server.rss_kib();
    let peak = AtomicU64::new(before);
    let uploads = futures::future::join_all((0..8).map(|i| {
        let (server, ann, photo) = (&server, &ann, photo.clone());
        // Eight queued behind two decoders, each a second or more.
        let wait = std::time::Duration::from_secs(120);
        async move { upload_within(wait, server, Some(ann), &format!("big{i}.jpg"), photo).await }
    }));
    let sample = async {
        loop {
            peak.fetch_max(server.rss_kib(), Ordering::Relaxed);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let answers = tokio::select! {
        answers = uploads => answers,
        () = sample => unreachable!("sampling never ends"),
    };
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
    }
    let grew_mib = peak.load(Ordering::Relaxed).saturating_sub(before) / 1024;
    eprintln!(
        "RSS {} MiB before; grew by {grew_mib} MiB at most over 8 concurrent {} KiB 20 MP photos",
        before / 1024,
        photo.len() / 1024
    );
    // Measured: two decoders at once grew it by ~210 MiB; with eight
    // (unbounded, on two cores) ~580 MiB.
    assert!(grew_mib < 400, "memory grew by {grew_mib} MiB");
}

/// Two nodes, each with a folder of its own, sharing an S3-compatible store
/// (moto): a file uploaded through one is served through the other, and the
/// sweep removes what nobody refers to from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB, Redis and moto_server: cargo test -- --include-ignored"]
async fn files_on_s3_storage_are_served_by_every_node() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let storage = common::s3_bucket().await;
    let node_config = |folder: &str| {
        let mut config = env.config();
        config.uploads.storage = Some(storage.clone());
        config.uploads.data_dir = env.data_dir.join(folder);
        config
    };
    let a = TestServer::start(node_config("a")).await;
    let b = TestServer::start(node_config("b")).await;
    let ann = a.sign_up("ann").await;
    let room = a.create_room(&ann, "photos").await;
    let photo = uploaded(&a, &ann, "big.jpg", encoded(&halves(1500, 1000), ImageFormat::Jpeg)).await;
    let notes = uploaded(&a, &ann, "notes.txt", b"kept in the bucket".to_vec()).await;
    let mut ws = a.ws(&ann).await;
    ws.join(room, 0).await;
    assert!(matches!(
        post_file(&mut ws, room, "p1", &photo.id).await,
        ServerFrame::Ack { .. }
    ));

    let bob = b.sign_up("bob").await;
    let original = fetch(&b, Some(&bob), &photo.url()).await;
    assert_eq!(original.status(), 200);
    assert_file_headers(&original);
    let bytes = original.bytes().await.unwrap();
    assert_eq!(image::load_from_memory(&bytes).unwrap().dimensions(), (1500, 1000));
    let preview = fetch(&b, Some(&bob), &photo.preview_url()).await.bytes().await.unwrap();
    assert_eq!(image::load_from_memory(&preview).unwrap().dimensions(), (960, 640));
    assert_eq!(
        fetch(&b, Some(&ann), &notes.url())
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"kept in the bucket"
    );
    // Nothing went to the nodes' own folders but their spools.
    assert!(
        walk(&env.data_dir)
            .iter()
            .all(|p| p.components().any(|c| c.as_os_str() == "spool"))
    );

    // Past the grace period, the never-posted file and its bytes go; the
    // posted photo and its preview stay.
    let files = server::files::Files::new(&node_config("sweeper").uploads).unwrap();
    let store = app::backend::Store::connect(&env.database_url, 2).await.unwrap();
    let later =
        std::time::SystemTime::now() + env.config().uploads.unattached_grace + std::time::Duration::from_secs(60);
    let swept = server::files::sweep::sweep(&store, &files, later).await.unwrap();
    assert_eq!((swept.uploads, swept.blobs), (1, 1));
    assert_eq!(fetch(&b, Some(&ann), &notes.url()).await.status(), 404);
    assert_eq!(fetch(&a, Some(&bob), &photo.url()).await.status(), 200);
    assert_eq!(fetch(&a, Some(&bob), &photo.preview_url()).await.status(), 200);
    store.close().await;
}
