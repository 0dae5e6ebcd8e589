//! The server-side error type: what went wrong, in domain terms. The
//! sentence users read and the HTTP status are chosen here, at the edge
//! ([`BackendError::to_api`]), not where the error arose; an infrastructure
//! cause (a database or Redis error) is logged once, where it is converted.

use crate::protocol::{ApiError, ErrorCode};
use crate::validate::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("not logged in")]
    Unauthorized,
    /// Wrong name or password, or a disabled account, at login.
    #[error("login refused: {0:?}")]
    LoginRefused(LoginRefusal),
    /// The room does not exist, or the caller may not know it does.
    #[error("room not found")]
    RoomNotFound,
    #[error("no such user")]
    UserNotFound,
    /// Not a page or function the caller may know exists (the backstage
    /// answers a non-administrator exactly like a missing page).
    #[error("page not found")]
    PageNotFound,
    /// No such message in the room (or in a room the caller can see).
    #[error("message not found")]
    MessageNotFound,
    /// The caller knows the room but may not do this in it.
    #[error("forbidden: {0:?}")]
    Forbidden(Refusal),
    #[error("name taken: {0:?}")]
    NameTaken(Taken),
    /// The sentence says what and when to retry (chosen by the caller of the limiter).
    #[error("{0}")]
    RateLimited(String),
    /// Too much work queued (e.g. password hashing): refused at once, by
    /// design, so not logged as a failure.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("password hashing: {0}")]
    Hashing(String),
    /// A shared part failed for many requests at once (its cause is logged where it happened).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// The same answer for an unknown name and a wrong password.
    WrongCredentials,
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Only a private room's owner manages its members.
    NotRoomOwner,
    /// A direct conversation's two members are fixed.
    DirectMembersFixed,
    /// A direct conversation has no name, topic or owner to change.
    DirectUnchangeable,
    OwnerCannotLeave,
    /// The room may be read but not posted in: it is archived.
    ReadOnly,
    /// Only a message's author edits it.
    NotAuthor,
    /// Only a message's author, or the room's owner, deletes it.
    NotAuthorOrModerator,
    /// The change would leave no administrator who can log in.
    LastAdministrator,
    /// Muted in the room until then: posts and changes are refused.
    Muted(crate::protocol::Millis),
    /// Only the room's owner and moderators (and, in a public room, the
    /// site's moderators) do this.
    NotModerator,
    /// Bans keep people out of public rooms; a private room's owner removes members.
    BanInPrivateRoom,
    /// The owner, or a moderator by another moderator, cannot be muted or banned.
    Untouchable,
    /// Sign-ups are closed.
    SignupsClosed,
    /// Sign-ups need an invitation, and none (or no live one) was given.
    InvitationNotValid,
}

/// Which kind of name is already taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    Username,
    RoomName,
}

impl BackendError {
    /// Whether this came from the database refusing a duplicate key.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, BackendError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// Whether the database rolled the transaction back to break a deadlock
    /// (SQLSTATE 40001, MySQL's 1213) or gave up waiting for a lock (MySQL's
    /// 1205, whose SQLSTATE is the catch-all HY000): worth retrying.
    pub fn is_deadlock(&self) -> bool {
        let BackendError::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        if e.code().as_deref() == Some("40001") {
            return true;
        }
        e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| e.number() == 1205)
    }

    /// The user-facing form. Infrastructure causes are logged here, once.
    /// Inside a server function it also sets the HTTP status to match.
    pub fn to_api(&self) -> ApiError {
        let api = self.describe();
        set_response_status(api.code);
        api
    }

    /// What to tell an operator at the command line: the user-facing
    /// sentence, or for an infrastructure failure its cause.
    pub fn for_operator(&self) -> String {
        match self {
            BackendError::Database(_)
            | BackendError::Migration(_)
            | BackendError::Redis(_)
            | BackendError::Hashing(_)
            | BackendError::Unavailable(_) => self.to_string(),
            _ => self.describe().message,
        }
    }

    fn describe(&self) -> ApiError {
        match self {
            BackendError::Invalid(e) => ApiError::invalid(e.0.clone()),
            BackendError::Unauthorized => ApiError::unauthorized(),
            BackendError::LoginRefused(LoginRefusal::WrongCredentials) => {
                ApiError::invalid("Wrong username or password.")
            }
            BackendError::LoginRefused(LoginRefusal::Disabled) => {
                ApiError::invalid("This account has been disabled by an administrator.")
            }
            BackendError::RoomNotFound => ApiError::room_not_found(),
            BackendError::UserNotFound => ApiError::new(ErrorCode::NotFound, "There is no user with that name."),
            BackendError::PageNotFound => ApiError::page_not_found(),
            BackendError::MessageNotFound => ApiError::new(ErrorCode::NotFound, "That message does not exist."),
            BackendError::Forbidden(Refusal::Muted(until)) => ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "You are muted in this room until {} UTC.",
                    crate::time::date_time(*until, 0)
                ),
            ),
            BackendError::Forbidden(why) => ApiError::new(
                ErrorCode::Forbidden,
                match why {
                    Refusal::Muted(_) => "You are muted in this room.",
                    Refusal::NotModerator => "Only the room's owner and moderators can do that.",
                    Refusal::BanInPrivateRoom => {
                        "Only public rooms have bans: remove the person from the private room's members instead."
                    }
                    Refusal::Untouchable => {
                        "The room's owner cannot be muted or banned, nor a moderator by another moderator."
                    }
                    Refusal::NotRoomOwner => "Only the owner of a private room can change its members.",
                    Refusal::DirectMembersFixed => "The two people in a direct conversation cannot change.",
                    Refusal::DirectUnchangeable => {
                        "A direct conversation's name and owner come from its two people: they cannot be changed."
                    }
                    Refusal::OwnerCannotLeave => "The owner cannot leave their own room.",
                    Refusal::ReadOnly => {
                        "This room is archived: it can be read, but nothing can be posted or changed in it."
                    }
                    Refusal::NotAuthor => "You can only edit your own messages.",
                    Refusal::NotAuthorOrModerator => "You can only delete your own messages.",
                    Refusal::LastAdministrator => {
                        "Natter needs an administrator who can log in: appoint another one first."
                    }
                    Refusal::SignupsClosed => "Sign-ups are closed. Ask an administrator for an account.",
                    Refusal::InvitationNotValid => {
                        "Sign-ups need an invitation, and this link is not valid (expired, used up or withdrawn)."
                    }
                },
            ),
            BackendError::NameTaken(Taken::Username) => {
                ApiError::new(ErrorCode::Conflict, "That username is already taken.")
            }
            BackendError::NameTaken(Taken::RoomName) => {
                ApiError::new(ErrorCode::Conflict, "A room with that name already exists.")
            }
            BackendError::RateLimited(m) => ApiError::new(ErrorCode::RateLimited, m.clone()),
            BackendError::Overloaded(_) => ApiError::new(
                ErrorCode::Unavailable,
                "The server is busy. Please try again in a moment.",
            ),
            // Logged where it happened (once for a whole failed batch).
            BackendError::Unavailable(_) => ApiError::unavailable(),
            BackendError::Database(_)
            | BackendError::Migration(_)
            | BackendError::Redis(_)
            | BackendError::Hashing(_) => {
                tracing::error!(error = %self, "request failed");
                ApiError::unavailable()
            }
        }
    }
}

/// Inside a server function (or a page being rendered), makes the response's
/// status the one `code` means; elsewhere (a socket frame) does nothing.
///
/// A redirect already decided on stays: a page that sends a visitor to log
/// in also loads data that fails for want of a session, in any order.
///
/// A form posted straight to a server function (before the page's WASM has
/// loaded, or without it) keeps leptos's answer: a redirect back to the
/// page with the error in its address, where the form shows it. Our status
/// would replace that redirect and leave the person on a page of JSON.
pub fn set_response_status(code: ErrorCode) {
    if is_plain_form_post() {
        return;
    }
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        let mut parts = response.0.write().unwrap_or_else(|p| p.into_inner());
        if !parts.status.is_some_and(|s| s.is_redirection()) {
            parts.status = Some(http_status(code));
        }
    }
}

/// Whether this is a server function called by a plain HTML form: its
/// request asks for HTML, which the browser's own `fetch` of a hydrated
/// form does not.
fn is_plain_form_post() -> bool {
    leptos::prelude::use_context::<http::request::Parts>().is_some_and(|parts| {
        let accepts_html = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        parts.method == http::Method::POST && parts.uri.path().starts_with("/api/") && accepts_html
    })
}

/// The HTTP status a server function answers with for each kind of failure
/// (leptos would answer 500 for all of them).
pub fn http_status(code: ErrorCode) -> http::StatusCode {
    use http::StatusCode as S;
    match code {
        ErrorCode::Invalid | ErrorCode::BadFrame => S::BAD_REQUEST,
        ErrorCode::Unauthorized => S::UNAUTHORIZED,
        ErrorCode::Forbidden => S::FORBIDDEN,
        ErrorCode::NotFound => S::NOT_FOUND,
        ErrorCode::Conflict | ErrorCode::Resync => S::CONFLICT,
        ErrorCode::RateLimited => S::TOO_MANY_REQUESTS,
        ErrorCode::TooLarge => S::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable => S::SERVICE_UNAVAILABLE,
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        e.to_api()
    }
}
