//! Natter's Leptos application, compiled twice: with `ssr` inside the server
//! binary and with `hydrate` into the browser's WASM.
//!
//! Layout:
//! - [`protocol`]: wire types shared with the browser (WebSocket frames, DTOs).
//! - [`validate`]: validated text newtypes (usernames, room names, message bodies…).
//! - [`api`]: the server functions — every HTTP endpoint the UI calls;
//!   [`backstage`]: the administrators' ones; [`moderation`]: a room's
//!   owner's and moderators' (appoint, mute, ban).
//! - [`pages`]: one routed page per file; [`components`]: pieces they share.
//! - [`live`]: the browser's WebSocket: connect, reconnect with backoff, resume.
//! - [`outbox`]: unacknowledged messages kept in the browser's storage across reloads.
//! - [`timeline`]: a room page's chat state as plain data: server frames in, what to render out.
//! - [`mentions`]: `@name` in messages and in the composer.
//! - [`typing`]: "NAME is typing…": who types, and when a typist's page says so.
//! - [`unread`]: the sidebar's rooms and what is unread in each.
//! - [`emoji`]: emoji names, search, `:shortcode:` suggestions and the "large emoji" rule.
//! - `backend` (server only): storage, access, room events, accounts and presence.

pub(crate) mod api;
pub(crate) mod backstage;
pub(crate) mod components;
pub(crate) mod emoji;
pub(crate) mod live;
pub mod mentions;
pub(crate) mod moderation;
pub(crate) mod outbox;
pub(crate) mod pages;
pub mod protocol;
pub(crate) mod time;
pub(crate) mod timeline;
pub mod typing;
pub(crate) mod unread;
pub mod validate;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    backend::csp::set_content_security_policy(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// "Room name · Natter". leptos_meta writes the server-rendered `<title>`
/// without escaping it, so a room called `</title><script>…` would inject
/// markup: on the server the text is escaped here. In the browser the title
/// is set through `document.title`, which takes plain text.
fn page_title(page: String) -> String {
    let title = if page.is_empty() {
        "Natter".to_string()
    } else {
        format!("{page} · Natter")
    };
    #[cfg(feature = "ssr")]
    let title = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    title
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    time::provide_local_offset();
    // Effects run only in the browser, once the page is hydrated: the mark
    // tells the end-to-end tests (and anyone looking) that controls answer.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/natter.css"/>
        <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
        <Title formatter=page_title/>
        <Router>
            <Routes fallback=pages::not_found::NotFound>
                // Async: the page is rendered whole before sending, so a
                // redirect to /login can still set the response status.
                <Route path=path!("/") view=pages::home::Home ssr=SsrMode::Async/>
                <Route path=path!("/admin") view=pages::admin::Admin ssr=SsrMode::Async/>
                <Route path=path!("/login") view=pages::auth::Login ssr=SsrMode::Async/>
                <Route path=path!("/signup") view=pages::auth::SignUp ssr=SsrMode::Async/>
                <Route path=path!("/rooms/:id") view=pages::room::Room ssr=SsrMode::Async/>
                <Route path=path!("/search") view=pages::search::Search ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
