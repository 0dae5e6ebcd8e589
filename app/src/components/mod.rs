//! Pieces shared by several pages.

use crate::api::LogOut;
use crate::protocol::{ApiError, ErrorCode};
use leptos::prelude::*;
use leptos_router::components::{A, Redirect};

/// The bar at the top of every signed-in page.
#[component]
pub fn TopBar(username: String) -> impl IntoView {
    let logout = ServerAction::<LogOut>::new();
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"Natter"</A>
            <div class="who">
                <span class="me" title="Logged in as">{username}</span>
                <ActionForm action=logout attr:class="inline">
                    <button type="submit" class="ghost">"Log out"</button>
                </ActionForm>
            </div>
        </header>
    }
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
        view! { <Redirect path="/login"/> }.into_any()
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
