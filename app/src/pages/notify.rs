//! Browser notifications for mentions and direct messages. Off until the
//! person turns them on with "Enable notifications": only then does the
//! browser ask for permission, never on page load. The choice is kept in
//! this browser's storage.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

/// Where the choice is kept.
#[cfg(feature = "hydrate")]
const CHOICE: &str = "natter.notifications";
/// A notification's text is cut to this many characters.
const EXCERPT_CHARS: usize = 140;

/// What a notification says: who wrote where, and the start of what.
pub fn text(author: &str, room: &str, direct: bool, body: &str, file: bool) -> (String, String) {
    let title = if direct {
        author.to_owned()
    } else {
        format!("{author} in {room}")
    };
    let mut excerpt: String = body.chars().take(EXCERPT_CHARS).collect();
    if body.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    if excerpt.is_empty() && file {
        excerpt = "Sent a file".into();
    }
    (title, excerpt)
}

/// Whether notifications are on: turned on in this browser, and allowed by it.
pub fn enabled() -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::Notification::permission() == web_sys::NotificationPermission::Granted
            && storage().and_then(|s| s.get_item(CHOICE).ok().flatten()).as_deref() == Some("on")
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Turns notifications on, asking the browser's permission if it has not
/// been given; why not, if they cannot be.
pub async fn enable() -> Result<(), String> {
    #[cfg(feature = "hydrate")]
    {
        use web_sys::{Notification, NotificationPermission};
        let blocked = || "Notifications are blocked for this site in your browser's settings.".to_string();
        let permission = match Notification::permission() {
            NotificationPermission::Default => {
                let asked = Notification::request_permission()
                    .map_err(|_| "This browser cannot show notifications.".to_string())?;
                let answer = wasm_bindgen_futures::JsFuture::from(asked)
                    .await
                    .map_err(|_| blocked())?;
                if answer.as_string().as_deref() == Some("granted") {
                    NotificationPermission::Granted
                } else {
                    NotificationPermission::Denied
                }
            }
            other => other,
        };
        if permission != NotificationPermission::Granted {
            return Err(blocked());
        }
        if let Some(s) = storage() {
            let _ = s.set_item(CHOICE, "on");
        }
        Ok(())
    }
    #[cfg(not(feature = "hydrate"))]
    Err("Notifications are shown by the browser.".into())
}

/// Turns notifications off in this browser.
pub fn disable() {
    #[cfg(feature = "hydrate")]
    if let Some(s) = storage() {
        let _ = s.set_item(CHOICE, "off");
    }
}

/// Shows one notification (replacing an earlier one with the same `tag`);
/// activating it runs `open`.
pub fn show(title: &str, body: &str, tag: &str, open: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let options = web_sys::NotificationOptions::new();
        options.set_body(body);
        options.set_tag(tag);
        let Ok(shown) = web_sys::Notification::new_with_options(title, &options) else {
            return;
        };
        let closing = shown.clone();
        let on_click = Closure::<dyn Fn()>::new(move || {
            if let Some(window) = web_sys::window() {
                let _ = window.focus();
            }
            open();
            closing.close();
        });
        shown.set_onclick(Some(on_click.as_ref().unchecked_ref()));
        // Lives as long as the notification may be clicked: the page.
        on_click.forget();
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (title, body, tag, open);
}

/// Whether the page is hidden (another tab, or minimised).
pub fn page_hidden() -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.visibility_state() != web_sys::VisibilityState::Visible)
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_names_who_and_where_and_cuts_long_text() {
        assert_eq!(
            text("ann", "Plaza", false, "hi @bob", false),
            ("ann in Plaza".into(), "hi @bob".into())
        );
        assert_eq!(text("ann", "ann & bob", true, "psst", false).0, "ann");
        let long = "字".repeat(200);
        let (_, body) = text("ann", "Plaza", false, &long, false);
        assert_eq!(body.chars().count(), EXCERPT_CHARS + 1);
        assert!(body.ends_with('…'));
        assert_eq!(text("ann", "Plaza", false, "", true).1, "Sent a file");
    }
}
