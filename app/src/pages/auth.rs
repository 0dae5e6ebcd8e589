//! Sign-up and login: two small forms that work before hydration too (they
//! post straight to the server function, which redirects).

use crate::api::{LogIn, SignUp as SignUpFn, signup_info};
use crate::components::{FormError, error_message};
use crate::protocol::{SignupInfo, SignupPolicy};
use crate::validate::{PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, USERNAME_MIN};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

/// The page to return to after logging in (`?next=`), if it is one of ours.
fn next_page() -> Option<String> {
    let next = use_query_map().get_untracked().get("next")?;
    (crate::validate::local_path(Some(&next)) != "/").then_some(next)
}

/// A link to `path` that keeps the page to return to.
fn keeping_next(path: &str, next: &Option<String>) -> String {
    match next {
        Some(next) => format!("{path}?next={}", crate::validate::query_value(next)),
        None => path.to_owned(),
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    let next = next_page();
    let sign_up_link = keeping_next("/signup", &next);
    view! {
        <Title text="Log in"/>
        <main class="page narrow auth">
            <h1 class="brand-title">"Natter"</h1>
            <h2>"Log in"</h2>
            <ActionForm action=action>
                {next.map(|next| view! { <input type="hidden" name="next" value=next/> })}
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required autofocus/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <FormError error=Signal::derive(move || error_message(action.value().get()))/>
                <button type="submit" disabled=move || action.pending().get()>
                    "Log in"
                </button>
            </ActionForm>
            <p class="switch">"New here? " <A href=sign_up_link>"Create an account"</A></p>
        </main>
    }
}

#[component]
pub fn SignUp() -> impl IntoView {
    let info = Resource::new(|| (), |_| signup_info());
    let invitation = use_query_map().get_untracked().get("invitation");
    view! {
        <Title text="Sign up"/>
        <main class="page narrow auth">
            <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
                {move || {
                    let invitation = invitation.clone();
                    Suspend::new(async move {
                        match info.await {
                            Ok(info) => view! { <SignUpForm info invitation/> }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </main>
    }
}

/// The sign-up form, or why there is none: sign-ups closed, or by
/// invitation and this visitor has no link.
#[component]
fn SignUpForm(info: SignupInfo, invitation: Option<String>) -> impl IntoView {
    let action = ServerAction::<SignUpFn>::new();
    let next = next_page();
    let log_in_link = keeping_next("/login", &next);
    let form = match (info.signups, invitation) {
        (SignupPolicy::Closed, _) => view! {
            <p class="notice">"Sign-ups are closed. Ask an administrator for an account."</p>
        }
        .into_any(),
        (SignupPolicy::Invitation, None) => view! {
            <p class="notice">"Sign-ups are by invitation. Ask an administrator for an invitation link."</p>
        }
        .into_any(),
        (policy, invitation) => view! {
            <ActionForm action=action>
                {next.map(|next| view! { <input type="hidden" name="next" value=next/> })}
                {invitation.filter(|_| policy == SignupPolicy::Invitation).map(|token| view! {
                    <input type="hidden" name="invitation" value=token/>
                })}
                <label for="username">"Username"</label>
                <input
                    id="username" name="username" autocomplete="username" required autofocus
                    minlength=USERNAME_MIN maxlength=USERNAME_MAX pattern="[A-Za-z0-9_\\-]+"
                    aria-describedby="username-help"
                />
                <p id="username-help" class="help">
                    {format!("{USERNAME_MIN}–{USERNAME_MAX} letters, digits, _ or -")}
                </p>
                <label for="password">"Password"</label>
                <input
                    id="password" name="password" type="password" autocomplete="new-password" required
                    minlength=PASSWORD_MIN maxlength=PASSWORD_MAX aria-describedby="password-help"
                />
                <p id="password-help" class="help">{format!("At least {PASSWORD_MIN} characters")}</p>
                <FormError error=Signal::derive(move || error_message(action.value().get()))/>
                <button type="submit" disabled=move || action.pending().get()>
                    "Sign up"
                </button>
            </ActionForm>
        }
        .into_any(),
    };
    view! {
        <h1 class="brand-title">{info.site_name}</h1>
        <h2>"Sign up"</h2>
        {form}
        <p class="switch">"Already have an account? " <A href=log_in_link>"Log in"</A></p>
    }
}
