//! Sign-up, login, logout and the session cookie, against the real server.
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::ErrorCode;
use common::{Backend, Environment, Ws};

on_both_backends!(
    sign_up_validates_and_names_are_unique_case_insensitively,
    login_gives_the_same_answer_for_unknown_user_and_wrong_password,
    the_session_cookie_is_httponly_lax_and_new_at_every_login,
    logout_ends_the_session_on_the_server,
    the_socket_needs_a_session_and_our_own_origin,
    pages_and_server_functions_need_a_session,
    logging_in_returns_to_the_page_asked_for_and_only_to_this_site,
    cross_site_server_function_calls_are_refused,
    pages_carry_security_headers_and_a_nonce_for_their_only_inline_script,
    a_session_unused_for_a_week_ends_and_use_keeps_one_alive,
    unknown_user_and_wrong_password_take_about_as_long,
    over_https_the_cookie_is_host_prefixed_and_a_planted_plain_one_is_ignored,
    an_admin_disables_an_account_and_its_sessions_and_sockets_end,
    a_refused_login_posted_without_script_comes_back_to_the_form_with_its_reason,
);

async fn sign_up_validates_and_names_are_unique_case_insensitively(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    server.sign_up("Alice").await;
    let reply = server
        .call(None, "signup", &[("username", "alice"), ("password", "another one")])
        .await;
    let err = reply.error();
    assert_eq!(
        (err.code, err.message.as_str()),
        (ErrorCode::Conflict, "That username is already taken.")
    );
    assert_eq!(reply.status, 409);
    assert!(reply.set_cookie.is_none());
    let reply = server
        .call(None, "signup", &[("username", "al"), ("password", "long enough")])
        .await;
    assert_eq!(reply.error().message, "Username must be 3 to 32 characters long.");
    let reply = server
        .call(None, "signup", &[("username", "a b c"), ("password", "long enough")])
        .await;
    assert_eq!(
        reply.error().message,
        "Username may contain only letters, digits, '_' and '-'."
    );
    let reply = server
        .call(None, "signup", &[("username", "bob"), ("password", "short")])
        .await;
    assert_eq!(reply.error().message, "Password must be at least 8 characters long.");
    let reply = server.call(None, "signup", &[("username", "bob")]).await;
    assert_eq!(
        reply.error().code,
        ErrorCode::Invalid,
        "a missing field is a clear error: {}",
        reply.body
    );
    // The refused sign-up left nothing behind: bob can still sign up.
    server.sign_up("bob").await;
    server.stop().await;
}

async fn login_gives_the_same_answer_for_unknown_user_and_wrong_password(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    server.sign_up("alice").await;
    let wrong = server
        .call(
            None,
            "login",
            &[("username", "alice"), ("password", "not the password")],
        )
        .await;
    let unknown = server
        .call(
            None,
            "login",
            &[("username", "nobody"), ("password", "not the password")],
        )
        .await;
    assert_eq!((wrong.status, unknown.status), (400, 400));
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.error().message, "Wrong username or password.");
    assert!(wrong.set_cookie.is_none() && unknown.set_cookie.is_none());
    // Passwords are checked exactly as typed, usernames case-insensitively.
    let spaced = server
        .call(None, "login", &[("username", "alice"), ("password", " correct horse")])
        .await;
    assert_eq!(spaced.error().message, "Wrong username or password.");
    let ok = server
        .call(None, "login", &[("username", "ALICE"), ("password", "correct horse")])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.set_cookie.is_some());
    server.stop().await;
}

async fn the_session_cookie_is_httponly_lax_and_new_at_every_login(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let signed_up = server
        .call(None, "signup", &[("username", "carol"), ("password", "correct horse")])
        .await;
    let cookie = signed_up.set_cookie_header.expect("a session cookie");
    assert!(cookie.starts_with("natter_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("natter_session=")
        .to_owned();
    assert!(token.len() >= 32, "at least 128 bits: {token}");

    let first = server
        .call(None, "login", &[("username", "carol"), ("password", "correct horse")])
        .await;
    let second = server
        .call(None, "login", &[("username", "carol"), ("password", "correct horse")])
        .await;
    assert_ne!(first.set_cookie, second.set_cookie, "each login gets a fresh token");
    assert_ne!(first.set_cookie.unwrap(), format!("natter_session={token}"));
    server.stop().await;
}

async fn logout_ends_the_session_on_the_server(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let cookie = server.sign_up("dave").await;
    let mut open_socket = server.ws(&cookie).await;
    let me = server.call(Some(&cookie), "me", &[]).await;
    assert!(me.body.contains("\"dave\""), "{}", me.body);
    let out = server.call(Some(&cookie), "logout", &[]).await;
    assert_eq!(out.status, 200);
    assert!(
        out.set_cookie.as_deref() == Some("natter_session="),
        "the cookie is cleared: {:?}",
        out.set_cookie
    );
    // The old token is dead even if the browser kept it.
    let me = server.call(Some(&cookie), "me", &[]).await;
    assert_eq!(
        (me.status, me.body.as_str()),
        (200, "null"),
        "logged out is an answer, not an error"
    );
    assert_eq!(
        server.call(Some(&cookie), "rooms", &[]).await.error().code,
        ErrorCode::Unauthorized
    );
    assert_eq!(Ws::connect(&server, Some(&cookie), None).await.err(), Some(401));
    // A socket opened before the logout is closed too, with a code that tells
    // the browser to go to the login page rather than reconnect.
    assert_eq!(
        open_socket.closed_with().await,
        Some(app::protocol::CLOSE_SESSION_ENDED)
    );
    server.stop().await;
}

async fn the_socket_needs_a_session_and_our_own_origin(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let cookie = server.sign_up("erin").await;
    assert_eq!(Ws::connect(&server, None, None).await.err(), Some(401));
    assert_eq!(
        Ws::connect(&server, Some("natter_session=forged"), None).await.err(),
        Some(401)
    );
    assert_eq!(
        Ws::connect(&server, Some(&cookie), Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    let own = format!("http://{}", server.addr);
    assert!(Ws::connect(&server, Some(&cookie), Some(&own)).await.is_ok());
    server.stop().await;
}

async fn pages_and_server_functions_need_a_session(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let client = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A page sends the visitor to log in, with a real redirect whatever the
    // request accepts (the page works before, and without, its WASM), and
    // remembers where they were going.
    for accept in ["text/html,application/xhtml+xml,*/*;q=0.8", "*/*"] {
        for (path, login) in [("/", "/login"), ("/rooms/5", "/login?next=/rooms/5")] {
            let page = client
                .get(server.url(path))
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status().as_u16(), 302, "{path} ({accept})");
            assert_eq!(page.headers().get("location").unwrap(), login, "{path} ({accept})");
        }
    }
    for endpoint in ["rooms", "create_room", "room", "history"] {
        let reply = server
            .call(
                None,
                endpoint,
                &[("name", "x"), ("topic", ""), ("room", "1"), ("before", "1")],
            )
            .await;
        assert_eq!(
            reply.error().code,
            ErrorCode::Unauthorized,
            "{endpoint}: {}",
            reply.body
        );
        assert_eq!(reply.status, 401, "{endpoint}");
    }
    let login = client.get(server.url("/login")).send().await.unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains(r#"<label for="username">Username</label>"#), "{html}");
    server.stop().await;
}

async fn logging_in_returns_to_the_page_asked_for_and_only_to_this_site(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    server.sign_up("traveller").await;
    let client = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let log_in = |next: &'static str| {
        let client = client.clone();
        let url = server.url("/api/login");
        async move {
            let form = [("username", "traveller"), ("password", "correct horse"), ("next", next)];
            // A plain form post, as before the WASM loads.
            client
                .post(url)
                .header("accept", "text/html")
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let back = log_in("/rooms/5?x=1").await;
    assert_eq!(back.status().as_u16(), 302);
    assert_eq!(back.headers()["location"], "/rooms/5?x=1");
    for elsewhere in ["//evil.example/", "https://evil.example/", "/\\evil.example", "rooms/5"] {
        let reply = log_in(elsewhere).await;
        assert_eq!(reply.headers()["location"], "/", "{elsewhere}");
    }
    // The login page carries the destination into its form and its sign-up link.
    let page = client.get(server.url("/login?next=%2Frooms%2F5")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="next" value="/rooms/5""#), "{html}");
    assert!(html.contains(r#"href="/signup?next=/rooms/5""#), "{html}");
    server.stop().await;
}

async fn cross_site_server_function_calls_are_refused(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let cookie = server.sign_up("frank").await;
    let client = common::http().build().unwrap();
    let form = [("name", "Forged"), ("topic", "")];
    let post = |headers: &[(&'static str, &str)]| {
        let mut request = client
            .post(server.url("/api/create_room"))
            .header("cookie", &cookie)
            .form(&form);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request
    };
    let forged = post(&[("origin", "http://evil.example")]).send().await.unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let forged = post(&[("sec-fetch-site", "cross-site"), ("origin", "http://evil.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let login = client
        .post(server.url("/api/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "frank"), ("password", "correct horse")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 403, "login CSRF is refused too");
    let rooms = server.call(Some(&cookie), "rooms", &[]).await;
    assert_eq!(rooms.body, "[]", "no forged room was created");

    let own = format!("http://{}", server.addr);
    let fine = post(&[("sec-fetch-site", "same-origin"), ("origin", &own)])
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status().as_u16(), 200, "our own pages still work");
    // State-changing endpoints do not answer GET.
    let get = client
        .get(server.url("/api/create_room?name=ByGet&topic="))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        !get.status().is_success(),
        "GET must not create a room: {}",
        get.status()
    );
    server.stop().await;
}

async fn pages_carry_security_headers_and_a_nonce_for_their_only_inline_script(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let page = common::get(&server.url("/login")).await.unwrap();
    let header = |name: &str| page.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    assert!(header("referrer-policy").is_some());
    let csp = header("content-security-policy").expect("a Content-Security-Policy");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce")
        .to_owned();
    assert!(nonce.len() >= 16, "{nonce}");
    let html = page.text().await.unwrap();
    let inline_scripts = html.matches("<script").count();
    let with_nonce = html.matches(&format!("nonce=\"{nonce}\"")).count();
    assert!(inline_scripts >= 1);
    assert!(
        with_nonce >= inline_scripts,
        "every script carries the response's nonce: {html}"
    );
    // A second response gets a different nonce.
    let again = common::get(&server.url("/login")).await.unwrap();
    let csp_again = again
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(csp, csp_again);
    server.stop().await;
}

async fn a_session_unused_for_a_week_ends_and_use_keeps_one_alive(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let idle = server.sign_up("idle").await;
    let busy = server.sign_up("busy").await;
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&env.database_url)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 24 * 60 * 60 * 1000_i64;
    let age = |user: &'static str, days: i64| {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE user_id = (SELECT id FROM users WHERE username = ?)")
            .bind(now - days * day)
            .bind(user)
    };
    age("idle", 8).execute(&mut db).await.unwrap();
    age("busy", 6).execute(&mut db).await.unwrap();

    let me = server.call(Some(&idle), "me", &[]).await;
    assert_eq!(me.body, "null", "eight days unused: the session is over");
    assert_eq!(Ws::connect(&server, Some(&idle), None).await.err(), Some(401));

    let me = server.call(Some(&busy), "me", &[]).await;
    assert!(me.body.contains("busy"), "six days unused is still within the limit");
    let (seen,): (i64,) = sqlx::query_as(
        "SELECT last_seen_at FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = 'busy')",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(seen > now - 60_000, "using the session marked it as seen");
    server.stop().await;
}

async fn unknown_user_and_wrong_password_take_about_as_long(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    // Measure hashing, not the rate limiter.
    let plenty = app::backend::limits::Rate {
        burst: 1000,
        per_minute: 60_000,
    };
    (config.limits.login_per_account, config.limits.auth_per_ip) = (plenty, plenty);
    let server = common::TestServer::start(config).await;
    server.sign_up("known").await;
    async fn median_ms(server: &common::TestServer, username: &str) -> f64 {
        let mut times = Vec::new();
        for i in 0..9 {
            let started = std::time::Instant::now();
            let password = format!("wrong password {i}");
            let reply = server
                .call(None, "login", &[("username", username), ("password", &password)])
                .await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(reply.status, 400);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        times[times.len() / 2]
    }
    // Interleaved rounds so machine noise hits both alike.
    let (mut unknown, mut wrong) = (0.0, 0.0);
    for _ in 0..2 {
        unknown += median_ms(&server, "nobody_at_all").await;
        wrong += median_ms(&server, "known").await;
    }
    let ratio = unknown / wrong;
    // Without the dummy hash an unknown user answers ~10× faster.
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown {unknown:.1} ms vs wrong {wrong:.1} ms"
    );
    server.stop().await;
}

async fn over_https_the_cookie_is_host_prefixed_and_a_planted_plain_one_is_ignored(backend: Backend) {
    let env = Environment::new(backend).await;
    let mut config = env.config();
    config.secure_cookies = true;
    let server = common::TestServer::start(config).await;
    let signed_up = server
        .call(None, "signup", &[("username", "hana"), ("password", "correct horse")])
        .await;
    let set_cookie = signed_up.set_cookie_header.expect("a session cookie");
    assert!(set_cookie.starts_with("__Host-natter_session="), "{set_cookie}");
    assert!(set_cookie.contains("Secure") && set_cookie.contains("Path=/") && !set_cookie.contains("Domain"));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(server.call(Some(&cookie), "me", &[]).await.body.contains("hana"));
    // The same token without the prefix (as a plain-http page could plant it) opens nothing.
    let planted = cookie.replacen("__Host-", "", 1);
    assert_eq!(server.call(Some(&planted), "me", &[]).await.body, "null");
    assert_eq!(Ws::connect(&server, Some(&planted), None).await.err(), Some(401));
    server.stop().await;
}

async fn an_admin_disables_an_account_and_its_sessions_and_sockets_end(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let cookie = server.sign_up("mallory").await;
    let bystander = server.sign_up("bystander").await;
    let mut open_socket = server.ws(&cookie).await;
    let mut bystanders_socket = server.ws(&bystander).await;

    let (ok, said) = env.admin(&["disable-user", "Mallory"]).await;
    assert!(ok, "{said}");
    assert!(said.starts_with("Disabled Mallory"), "{said}");
    assert_eq!(
        open_socket.closed_with().await,
        Some(app::protocol::CLOSE_SESSION_ENDED)
    );
    assert_eq!(server.call(Some(&cookie), "me", &[]).await.body, "null");
    assert_eq!(Ws::connect(&server, Some(&cookie), None).await.err(), Some(401));
    // The right password is told why; a wrong one gets the usual answer.
    let login = |password: &'static str| {
        let server = &server;
        async move {
            server
                .call(None, "login", &[("username", "mallory"), ("password", password)])
                .await
        }
    };
    let refused = login("correct horse").await;
    assert_eq!(refused.status, 400);
    assert!(refused.set_cookie.is_none());
    assert!(refused.error().message.contains("disabled"), "{}", refused.body);
    assert_eq!(
        login("wrong horse").await.error().message,
        "Wrong username or password."
    );
    // Nobody else is affected.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let room = server.create_room(&bystander, "Still here").await;
    bystanders_socket.join(room, 0).await;

    let (ok, said) = env.admin(&["enable-user", "mallory"]).await;
    assert!(ok, "{said}");
    assert_eq!(login("correct horse").await.status, 200);
    // Unknown names and unknown commands fail with a reason.
    let (ok, said) = env.admin(&["disable-user", "nobody_here"]).await;
    assert!(!ok && said.contains("no user called"), "{said}");
    let (ok, said) = env.admin(&["frobnicate"]).await;
    assert!(!ok && said.contains("usage"), "{said}");
    server.stop().await;
}

/// A form posted before the page's script has loaded (or without it) goes
/// straight to the server function; a refusal must bring the person back to
/// the form with the reason on it, not leave them on a page of JSON.
async fn a_refused_login_posted_without_script_comes_back_to_the_form_with_its_reason(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    server.sign_up("walker").await;
    let client = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = client
        .post(server.url("/api/login"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("referer", server.url("/login"))
        .form(&[("username", "walker"), ("password", "wrong horse")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 302);
    assert!(refused.headers().get("set-cookie").is_none());
    let back = refused.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&server.url("/login?")) && back.contains("__err"),
        "{back}"
    );
    let page = client.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Wrong username or password."), "{page}");
    // Called by the hydrated page's script, the same refusal is a 400 with its reason.
    let reply = server
        .call(None, "login", &[("username", "walker"), ("password", "wrong horse")])
        .await;
    assert_eq!(reply.status, 400);
    server.stop().await;
}
