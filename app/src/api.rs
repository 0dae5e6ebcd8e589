//! The server functions: the whole client/server boundary outside the
//! WebSocket, in one list. Every one of them authenticates from the session
//! cookie (except sign-up and login) and validates its input on the server.

use crate::protocol::{ApiError, ErrorCode, HistoryPage, Me, RoomId, RoomPage, RoomSummary, SearchPage, SidebarRoom};
use leptos::prelude::*;

/// Messages rendered with the room page and fetched per "Load older".
#[cfg(feature = "ssr")]
const PAGE_SIZE: u32 = 50;

/// How a server function's failure travels: as JSON, and a request that
/// could not even be decoded becomes an [`ApiError`] like any other.
impl server_fn::error::FromServerFnError for ApiError {
    type Encoder = server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: server_fn::error::ServerFnErrorErr) -> Self {
        use server_fn::error::ServerFnErrorErr as E;
        let error = match value {
            E::Args(m) | E::MissingArg(m) | E::Deserialization(m) => {
                ApiError::invalid(format!("The request was malformed: {m}"))
            }
            E::Request(_) => ApiError::new(
                ErrorCode::Unavailable,
                "Could not reach the server. Check your connection and try again.",
            ),
            other => ApiError::new(ErrorCode::Unavailable, other.to_string()),
        };
        // On the server this is how a request that could not be decoded is
        // answered: it gets the status its code means (400), like every
        // other failure, instead of leptos's 500.
        #[cfg(feature = "ssr")]
        crate::backend::error::set_response_status(error.code);
        error
    }
}

#[cfg(feature = "ssr")]
fn set_cookie(value: &str) -> Result<(), ApiError> {
    let response = expect_context::<leptos_axum::ResponseOptions>();
    let value = http::HeaderValue::from_str(value).map_err(|_| ApiError::unavailable())?;
    response.append_header(http::header::SET_COOKIE, value);
    Ok(())
}

/// Creates an account and logs it in, then goes to `next` (a path of this
/// site, from the login redirect) or the room list.
#[server(endpoint = "signup")]
pub async fn sign_up(
    username: String,
    password: String,
    next: Option<String>,
    invitation: Option<String>,
) -> Result<(), ApiError> {
    use crate::backend::{BackendError, services};
    use crate::validate::{Password, Username};
    let services = services()?;
    let ip = crate::backend::client_ip().await;
    services
        .limiter
        .enforce(
            &format!("auth:{ip}"),
            services.limits.auth_per_ip,
            "Too many attempts from your network",
        )
        .await?;
    let username = Username::parse(&username).map_err(BackendError::from)?;
    let password = Password::parse(&password).map_err(BackendError::from)?;
    let (_, token) = services
        .accounts
        .sign_up(&username, &password, invitation.as_deref())
        .await?;
    set_cookie(&services.accounts.session_cookie(&token))?;
    leptos_axum::redirect(crate::validate::local_path(next.as_deref()));
    Ok(())
}

/// Logs in with a fresh session token, then goes to `next` (a path of this
/// site, from the login redirect) or the room list.
#[server(endpoint = "login")]
pub async fn log_in(username: String, password: String, next: Option<String>) -> Result<(), ApiError> {
    use crate::backend::services;
    let services = services()?;
    let ip = crate::backend::client_ip().await;
    let limits = services.limits;
    let limiter = &services.limiter;
    limiter
        .enforce(
            &format!("auth:{ip}"),
            limits.auth_per_ip,
            "Too many attempts from your network",
        )
        .await?;
    // Per account too, so a guesser spreading over many addresses still
    // slows down; the bucket refills, so the real owner is never locked out.
    let account = format!("login:{}", username.trim().to_ascii_lowercase());
    limiter
        .enforce(
            &account,
            limits.login_per_account,
            "Too many login attempts for this account",
        )
        .await?;
    let (_, token) = services.accounts.log_in(&username, &password).await?;
    set_cookie(&services.accounts.session_cookie(&token))?;
    leptos_axum::redirect(crate::validate::local_path(next.as_deref()));
    Ok(())
}

/// Ends the session on the server and clears the cookie.
#[server(endpoint = "logout")]
pub async fn log_out() -> Result<(), ApiError> {
    use crate::backend::{request_headers, services};
    let services = services()?;
    services.accounts.log_out(&request_headers()).await?;
    set_cookie(&services.accounts.clear_cookie())?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The site's name and who may sign up (for everyone: the sign-up page asks).
#[server(endpoint = "signup_info")]
pub async fn signup_info() -> Result<crate::protocol::SignupInfo, ApiError> {
    let settings = crate::backend::services()?.store.settings().await?;
    Ok(crate::protocol::SignupInfo {
        site_name: settings.site_name,
        signups: settings.signups,
    })
}

/// The logged-in user, or `None`.
#[server(endpoint = "me")]
pub async fn who_am_i() -> Result<Option<Me>, ApiError> {
    use crate::backend::{BackendError, request_headers, services};
    // Not being logged in is an answer here, not an error (no 401).
    match services()?.accounts.authenticate(&request_headers()).await {
        Ok(me) => Ok(Some(me)),
        Err(BackendError::Unauthorized) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every room with its online count and last activity.
#[server(endpoint = "rooms")]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, ApiError> {
    use crate::backend::{current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    let rooms = services.store.rooms_visible_to(me.id).await?;
    let ids: Vec<RoomId> = rooms.iter().map(|r| r.id).collect();
    // Presence is a nicety here: a Redis outage must not hide the rooms.
    let online = services.presence.online_counts(&ids).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "online counts unavailable");
        Default::default()
    });
    Ok(rooms
        .into_iter()
        .map(|r| RoomSummary {
            online: online.get(&r.id).copied().unwrap_or(0),
            id: r.id,
            name: r.name,
            topic: r.topic,
            last_message_at: r.last_message_at,
            private: r.private,
            direct: r.direct,
        })
        .collect())
}

/// Creates a room and opens it.
#[server(endpoint = "create_room")]
pub async fn create_room(name: String, topic: String, private: Option<String>) -> Result<RoomId, ApiError> {
    use crate::backend::{BackendError, current_user, services};
    use crate::validate::{RoomName, Topic};
    let services = services()?;
    let me = current_user(&services).await?;
    let name = RoomName::parse(&name).map_err(BackendError::from)?;
    let topic = Topic::parse(&topic).map_err(BackendError::from)?;
    // A checkbox: present ("on") when ticked, absent otherwise.
    let private = private.is_some_and(|v| !v.is_empty() && v != "false");
    let id = services.store.create_room(&name, &topic, me.id, private).await?;
    leptos_axum::redirect(&format!("/rooms/{id}"));
    Ok(id)
}

/// Opens the direct conversation with `username` (a private room of the
/// two), creating it the first time either of them asks.
#[server(endpoint = "direct")]
pub async fn direct_message(username: String) -> Result<RoomId, ApiError> {
    use crate::backend::{BackendError, current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    let key = crate::validate::UserKey::of(&username);
    if key == crate::validate::UserKey::of(&me.username) {
        let why = "You cannot send direct messages to yourself.";
        return Err(BackendError::Invalid(crate::validate::Invalid(why.into())).into());
    }
    let id = services.store.direct_room(&me, &key).await?;
    leptos_axum::redirect(&format!("/rooms/{id}"));
    Ok(id)
}

/// Messages shown on each side of a message a room is opened at.
#[cfg(feature = "ssr")]
const AROUND: u32 = 25;

/// The room and its newest messages, for the first paint; opened `at` a
/// message (a search result), the messages around it too.
#[server(endpoint = "room")]
pub async fn load_room(room: i64, at: Option<i64>) -> Result<RoomPage, ApiError> {
    use crate::backend::{current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    let (row, access) = services.access.room(me.id, RoomId(room)).await?;
    services.access.opened(me.id, row.id).await?;
    let (page, read_seq) = tokio::join!(
        services.store.messages_before(row.id, None, PAGE_SIZE),
        services.store.read_seq(me.id, row.id)
    );
    let ((mut messages, mut has_older, mut as_of), read_seq) = (page?, read_seq?);
    let mut gap = None;
    // Opened at an older message: the messages around it, as of the same
    // sequence as the newest (else read again: a change came between).
    if let Some(target) = at {
        for _ in 0..3 {
            if messages.iter().any(|m| m.id == target) {
                break;
            }
            let store = &services.store;
            let Some(seq) = store.message_seq(row.id, target).await? else {
                break;
            };
            let Some(end) = store.nth_message_after(row.id, seq, AROUND).await? else {
                break;
            };
            let (window, window_older, window_as_of) =
                store.messages_before(row.id, Some(end + 1), 2 * AROUND + 1).await?;
            if window_as_of == as_of {
                gap = window.last().zip(messages.first()).map(|(lo, hi)| (lo.seq, hi.seq));
                has_older = window_older;
                messages.splice(
                    0..0,
                    window.into_iter().filter(|m| gap.is_none_or(|(_, hi)| m.seq < hi)),
                );
                break;
            }
            (messages, has_older, as_of) = store.messages_before(row.id, None, PAGE_SIZE).await?;
        }
    }
    let members = if row.private {
        services.store.members(row.id).await?
    } else {
        Vec::new()
    };
    Ok(RoomPage {
        id: row.id,
        name: row.name,
        topic: row.topic,
        messages,
        has_older,
        as_of,
        read_seq,
        owner: row.owner == me.id,
        moderator: services.access.moderates(me.id, row.id, access).await?,
        archived: row.archived,
        me,
        private: row.private,
        direct: row.direct,
        members,
        upload_bytes: services.limits.upload_bytes,
        focus: at,
        gap,
    })
}

/// The rooms in the sidebar: those the user opened, and the private rooms
/// and conversations they are in, with what they have not read in each.
#[server(endpoint = "sidebar")]
pub async fn sidebar() -> Result<Vec<SidebarRoom>, ApiError> {
    use crate::backend::{current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    Ok(services.store.sidebar(me.id).await?)
}

/// Mutes a room's notifications for the caller (`quiet`), or unmutes them:
/// its messages still count as unread, without bold or notifications.
#[server(endpoint = "mute_room")]
pub async fn mute_room(room: i64, quiet: bool) -> Result<(), ApiError> {
    use crate::backend::{Access, current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    let room = RoomId(room);
    services.access.require(me.id, room, Access::Read).await?;
    // A room seen only through a link so far gets its row now.
    services.access.opened(me.id, room).await?;
    services.store.set_quiet(me.id, room, quiet).await?;
    Ok(())
}

/// Most people offered for one `@` typed.
#[cfg(feature = "ssr")]
pub const MENTION_CANDIDATES: u32 = 8;

/// The room's people whose names start with `typed` (any case), for `@`
/// mentions: at most [`MENTION_CANDIDATES`], by name. Anyone who can read
/// the room may ask; a name nobody can have finds nobody.
#[server(endpoint = "mention_candidates")]
pub async fn mention_candidates(room: i64, typed: String) -> Result<Vec<String>, ApiError> {
    use crate::backend::{Access, BackendError, current_user, services};
    use crate::validate::{Invalid, USERNAME_MAX};
    let services = services()?;
    let me = current_user(&services).await?;
    let room = RoomId(room);
    services.access.require(me.id, room, Access::Read).await?;
    if typed.chars().count() > USERNAME_MAX {
        let why = format!("A name is at most {USERNAME_MAX} characters long.");
        return Err(BackendError::Invalid(Invalid(why)).into());
    }
    if !typed.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Ok(Vec::new());
    }
    Ok(services
        .store
        .people_named(room, &typed.to_ascii_lowercase(), MENTION_CANDIDATES)
        .await?)
}

/// Results per search page.
#[cfg(feature = "ssr")]
const SEARCH_PAGE: u32 = 20;

/// Messages matching `query` in every room the caller may read (or in
/// `room`, or by `author`), newest first; `before` a message id for the
/// next page. Rate-limited per user.
#[server(endpoint = "search")]
pub async fn search_messages(
    query: String,
    room: Option<i64>,
    author: Option<String>,
    before: Option<i64>,
) -> Result<SearchPage, ApiError> {
    use crate::backend::search_text;
    use crate::backend::store::SearchFilter;
    use crate::backend::{Access, BackendError, current_user, services};
    use crate::validate::{Invalid, USERNAME_MAX, UserKey};
    let services = services()?;
    let me = current_user(&services).await?;
    let parsed = search_text::query(&query).map_err(|e| BackendError::Invalid(Invalid(e.message())))?;
    let author = author
        .map(|a| a.trim().trim_start_matches('@').to_string())
        .filter(|a| !a.is_empty());
    if author.as_ref().is_some_and(|a| a.chars().count() > USERNAME_MAX) {
        let why = format!("A name is at most {USERNAME_MAX} characters long.");
        return Err(BackendError::Invalid(Invalid(why)).into());
    }
    let room = room.map(RoomId);
    if let Some(room) = room {
        // A room they may not read answers as one that does not exist.
        services.access.require(me.id, room, Access::Read).await?;
    }
    services
        .limiter
        .enforce(
            &format!("search:{}", me.id.0),
            services.limits.searches,
            "Too many searches",
        )
        .await?;
    let filter = SearchFilter {
        room,
        author: author.as_deref().map(UserKey::of),
        before,
    };
    let found = services.store.search(me.id, &parsed, &filter, SEARCH_PAGE).await?;
    Ok(SearchPage {
        hits: found.hits,
        next: found.next,
    })
}

/// The page of messages just before sequence `before`.
#[server(endpoint = "history")]
pub async fn older_messages(room: i64, before: i64) -> Result<HistoryPage, ApiError> {
    use crate::backend::{Access, current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    let room = RoomId(room);
    // A public room's answer is remembered, saving a query on every page.
    services.access.require(me.id, room, Access::Read).await?;
    let (messages, has_older, as_of) = services.store.messages_before(room, Some(before), PAGE_SIZE).await?;
    Ok(HistoryPage {
        messages,
        has_older,
        as_of,
    })
}

/// A private room as its owner may manage it: the members, after a change.
#[cfg(feature = "ssr")]
async fn owned_private_room(room: i64) -> Result<(crate::backend::Services, RoomId, Me), ApiError> {
    use crate::backend::error::Refusal;
    use crate::backend::{Access, BackendError, current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    let (row, access) = services.access.room(me.id, RoomId(room)).await?;
    if row.direct {
        return Err(BackendError::Forbidden(Refusal::DirectMembersFixed).into());
    }
    if !row.private || access < Access::Own {
        return Err(BackendError::Forbidden(Refusal::NotRoomOwner).into());
    }
    Ok((services, row.id, me))
}

/// Adds `username` to a private room (its owner only). Returns the members.
#[server(endpoint = "add_member")]
pub async fn add_member(room: i64, username: String) -> Result<Vec<String>, ApiError> {
    let (services, room, me) = owned_private_room(room).await?;
    let by = crate::backend::store::Actor::person(&me, crate::backend::client_ip().await);
    services
        .store
        .add_member(room, &crate::validate::UserKey::of(&username), &by)
        .await?;
    Ok(services.store.members(room).await?)
}

/// Removes `username` from a private room (its owner only); their open
/// sockets stop receiving the room at once, on every node.
#[server(endpoint = "remove_member")]
pub async fn remove_member(room: i64, username: String) -> Result<Vec<String>, ApiError> {
    use crate::backend::{BackendError, RoomEvent};
    let (services, room, me) = owned_private_room(room).await?;
    let key = crate::validate::UserKey::of(&username);
    if key == crate::validate::UserKey::of(&me.username) {
        return Err(BackendError::Forbidden(crate::backend::error::Refusal::OwnerCannotLeave).into());
    }
    let by = crate::backend::store::Actor::person(&me, crate::backend::client_ip().await);
    if let Some(user) = services.store.remove_member(room, &key, &by).await? {
        services
            .publisher
            .publish(vec![RoomEvent::MemberRemoved { room, user }])
            .await;
    }
    Ok(services.store.members(room).await?)
}

/// Longest reason a report may give (characters).
pub const REPORT_REASON_MAX: usize = 500;

/// Reports `message` of `room` to the administrators, with an optional
/// reason. Anyone who can read the room may report someone else's message;
/// a second report of the same message by the same person changes nothing.
#[server(endpoint = "report")]
pub async fn report_message(room: i64, message: i64, reason: String) -> Result<(), ApiError> {
    use crate::backend::{Access, BackendError, current_user, services};
    use crate::validate::Invalid;
    let services = services()?;
    let me = current_user(&services).await?;
    let room = RoomId(room);
    services.access.require(me.id, room, Access::Read).await?;
    let reason = reason.trim();
    if reason.chars().count() > REPORT_REASON_MAX {
        let why = format!("A reason can be at most {REPORT_REASON_MAX} characters long.");
        return Err(BackendError::Invalid(Invalid(why)).into());
    }
    if reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(BackendError::Invalid(Invalid("A reason cannot contain control characters.".into())).into());
    }
    services.store.report_message(room, message, me.id, reason).await?;
    Ok(())
}
