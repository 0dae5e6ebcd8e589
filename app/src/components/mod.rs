//! Pieces shared by several pages.

pub mod emoji_picker;

use crate::api::LogOut;
use crate::protocol::{ApiError, ErrorCode};
use leptos::prelude::*;
use leptos_router::components::{A, Redirect};

/// The bar at the top of every signed-in page.
#[component]
pub fn TopBar(
    username: String,
    #[prop(optional)] admin: bool,
    /// The search page, which has its own search box.
    #[prop(optional)]
    searching: bool,
) -> impl IntoView {
    let logout = ServerAction::<LogOut>::new();
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"Natter"</A>
            {(!searching).then(|| view! {
                <leptos_router::components::Form method="GET" action="/search" attr:role="search" attr:class="top-search">
                    <input
                        type="search"
                        name="q"
                        aria-label="Search messages"
                        placeholder="Search"
                        required
                        maxlength=crate::validate::SEARCH_MAX
                        autocomplete="off"
                    />
                </leptos_router::components::Form>
            })}
            <div class="who">
                {admin.then(|| view! { <A href="/admin" attr:class="admin-link">"Admin"</A> })}
                <span class="me" title="Logged in as">{username}</span>
                <ActionForm action=logout attr:class="inline">
                    <button type="submit" class="ghost" on:click=|_| crate::outbox::forget_all()>"Log out"</button>
                </ActionForm>
            </div>
        </header>
    }
}

/// Keeps the modal `dialog` open exactly while `open` says so (Escape,
/// which the browser handles, closes it too: the dialog's `close` event
/// must then make `open` false).
pub fn modal_follows(dialog: NodeRef<leptos::html::Dialog>, open: impl Fn() -> bool + Send + Sync + 'static) {
    Effect::new(move |_| {
        let Some(el) = dialog.get() else { return };
        if open() {
            if !el.open() {
                let _ = el.show_modal();
            }
        } else if el.open() {
            el.close();
        }
    });
}

/// The sentence to show for a server action's latest result, if it failed.
pub fn error_message<T>(result: Option<Result<T, ApiError>>) -> Option<String> {
    result.and_then(Result::err).map(|e| e.message)
}

/// A failed form submission's reason, announced to screen readers.
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|message| view! { <p class="error" role="alert">{message}</p> })
    }
}

/// Sends a visitor without a session to the login page, which brings them
/// back here afterwards. On the server this is a real `302` with a
/// `Location` (whatever the request's `Accept`), so it works before the
/// WASM loads, or without it.
#[component]
pub fn ToLogin() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let here = format!(
        "{}{}",
        location.pathname.get_untracked(),
        location.search.get_untracked()
    );
    let here = if here.is_empty() || here.starts_with("/?") {
        "/".to_owned()
    } else {
        here
    };
    let target = if here == "/" {
        "/login".to_owned()
    } else {
        format!("/login?next={}", crate::validate::query_value(&here))
    };
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(value) = http::HeaderValue::from_str(&target)
    {
        response.set_status(http::StatusCode::FOUND);
        response.insert_header(http::header::LOCATION, value);
    }
    view! { <Redirect path=target/> }
}

/// What a page shows when its data failed to load: a redirect to /login for a
/// lost session, otherwise the reason.
#[component]
pub fn LoadError(error: ApiError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if error.code == ErrorCode::NotFound
        && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
    {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    if error.code == ErrorCode::Unauthorized {
        view! { <ToLogin/> }.into_any()
    } else {
        view! {
            <main class="page narrow">
                <p class="error" role="alert">{error.message}</p>
                <p><A href="/">"Back to rooms"</A></p>
            </main>
        }
        .into_any()
    }
}
