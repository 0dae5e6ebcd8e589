//! Rate limits: message floods and login guessing are slowed with a clear
//! retry hint, per user / account / address, shared across nodes via Redis.
#![allow(clippy::unwrap_used)]

mod common;

use app::backend::limits::Rate;
use app::protocol::{ClientFrame, ErrorCode, ServerFrame};
use common::{Backend, Environment, TestServer};

on_both_backends!(
    a_thousand_failed_logins_are_refused_cheaply_and_the_owner_gets_back_in,
    one_user_cannot_hold_more_than_the_socket_cap,
    a_message_flood_is_refused_with_a_retry_hint_and_others_are_unaffected,
    login_guessing_is_slowed_per_account_and_per_address
);

async fn a_message_flood_is_refused_with_a_retry_hint_and_others_are_unaffected(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    config.limits.messages = Rate {
        burst: 5,
        per_minute: 6,
    };
    let one = TestServer::start(config.clone()).await;
    // With Redis the limit is shared: the flood is spread over two nodes.
    let two = if backend == Backend::MariaDbRedis {
        Some(TestServer::start(config).await)
    } else {
        None
    };
    let alice = one.sign_up("alice").await;
    let bob = one.sign_up("bob").await;
    let room = one.create_room(&alice, "Flood").await;
    let mut a1 = one.ws(&alice).await;
    let mut a2 = two.as_ref().unwrap_or(&one).ws(&alice).await;
    let mut b = one.ws(&bob).await;
    for ws in [&mut a1, &mut a2, &mut b] {
        ws.join(room, 0).await;
    }
    for i in 0..5 {
        let ws = if i % 2 == 0 { &mut a1 } else { &mut a2 };
        ws.post(room, &format!("f{i}"), "flood").await;
    }
    a2.send(&ClientFrame::Send {
        room,
        client_id: "f5".into(),
        body: "one too many".into(),
        reply_to: None,
        attachment: None,
    })
    .await;
    match a2
        .recv_until(|f| {
            matches!(f, ServerFrame::Error { .. })
                || matches!(f, ServerFrame::Ack { client_id, .. } if client_id == "f5")
        })
        .await
    {
        ServerFrame::Error {
            code,
            message,
            client_id,
        } => {
            assert_eq!(code, ErrorCode::RateLimited);
            assert!(code.is_retryable(), "the client keeps it pending and retries");
            assert!(
                message.starts_with("You are sending messages too fast; try again in "),
                "{message}"
            );
            assert_eq!(client_id.as_deref(), Some("f5"));
        }
        other => panic!("the sixth message should be refused: {other:?}"),
    }
    // Bob has his own allowance.
    assert_eq!(b.post(room, "b1", "hello").await, 6);
    if let Some(two) = two {
        two.stop().await;
    }
    one.stop().await;
}

async fn login_guessing_is_slowed_per_account_and_per_address(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    config.limits.login_per_account = Rate {
        burst: 3,
        per_minute: 1,
    };
    config.limits.auth_per_ip = Rate {
        burst: 8,
        per_minute: 1,
    };
    let server = TestServer::start(config).await;
    server.sign_up("victim").await; // 1 of the address's 8
    for _ in 0..3 {
        let wrong = server
            .call(None, "login", &[("username", "victim"), ("password", "guess guess")])
            .await;
        assert_eq!(wrong.error().message, "Wrong username or password.");
    }
    // The account's bucket is empty: even the right password waits, and says how long.
    let limited = server
        .call(None, "login", &[("username", "VICTIM"), ("password", "correct horse")])
        .await;
    let err = limited.error();
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert_eq!(limited.status, 429);
    assert!(
        err.message
            .starts_with("Too many login attempts for this account; try again in "),
        "{}",
        err.message
    );
    assert!(limited.set_cookie.is_none());
    // Other accounts are not affected by that account's limit…
    let other = server
        .call(None, "login", &[("username", "someone"), ("password", "guess guess")])
        .await;
    assert_eq!(other.error().code, ErrorCode::Invalid);
    // …but the address's own limit catches a guesser moving between accounts.
    let mut refused = None;
    for i in 0..5 {
        let reply = server
            .call(
                None,
                "login",
                &[("username", &format!("user{i}")), ("password", "guess guess")],
            )
            .await;
        if reply.error().code == ErrorCode::RateLimited {
            refused = Some(reply.error().message);
            break;
        }
    }
    let message = refused.expect("the address limit applies");
    assert!(
        message.starts_with("Too many attempts from your network; try again in "),
        "{message}"
    );
    server.stop().await;
}

async fn one_user_cannot_hold_more_than_the_socket_cap(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    config.limits.sockets_per_user = 3;
    let server = TestServer::start(config).await;
    let greedy = server.sign_up("greedy").await;
    let other = server.sign_up("other").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(server.ws(&greedy).await);
    }
    assert_eq!(common::Ws::connect(&server, Some(&greedy), None).await.err(), Some(429));
    // Someone else is not affected, and closing one frees a slot.
    let _theirs = server.ws(&other).await;
    open.pop().unwrap().close().await;
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        match common::Ws::connect(&server, Some(&greedy), None).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status, 429);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the closed socket's slot was never freed"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    server.stop().await;
}

async fn a_thousand_failed_logins_are_refused_cheaply_and_the_owner_gets_back_in(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    // Refills fast enough for the test to wait it out.
    config.limits.login_per_account = Rate {
        burst: 5,
        per_minute: 120,
    };
    config.limits.auth_per_ip = Rate {
        burst: 1_000_000,
        per_minute: 1_000_000,
    };
    let server = TestServer::start(config).await;
    server.sign_up("target").await;
    let client = common::http().build().unwrap();
    let started = std::time::Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    for chunk in 0..20 {
        let attempts = (0..50).map(|i| {
            client
                .post(server.url("/api/login"))
                .form(&[
                    ("username", "target".to_string()),
                    ("password", format!("guess {chunk} {i}")),
                ])
                .send()
        });
        for response in futures::future::join_all(attempts).await {
            *statuses.entry(response.unwrap().status().as_u16()).or_insert(0) += 1;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(statuses.get(&200), None, "no guess got in");
    assert!(statuses.get(&429).copied().unwrap_or(0) >= 900, "{statuses:?}");
    // Refused attempts cost no password hash: 1,000 hashes would take far longer.
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");
    // No permanent lockout: once the bucket refills, the owner gets in.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let reply = server
            .call(None, "login", &[("username", "target"), ("password", "correct horse")])
            .await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 429, "{}", reply.body);
        assert!(tokio::time::Instant::now() < deadline, "the owner stayed locked out");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    server.stop().await;
}
