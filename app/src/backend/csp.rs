//! The page's Content-Security-Policy. Set while rendering because it names
//! the per-response nonce that leptos puts on its hydration script: only our
//! own scripts (and that one inline script) run, never anything from users.

use leptos::prelude::use_context;

pub fn set_content_security_policy(options: &leptos::prelude::LeptosOptions) {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce().map(|n| n.to_string()).unwrap_or_default();
    let mut connect = String::from("'self'");
    // `cargo leptos watch` reloads the page over its own socket.
    // (the same test leptos's AutoReload makes before opening it)
    if std::env::var_os("LEPTOS_WATCH").is_some() {
        let port = options.reload_external_port.unwrap_or(options.reload_port);
        connect.push_str(&format!(" ws://localhost:{port} ws://127.0.0.1:{port}"));
    }
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}
