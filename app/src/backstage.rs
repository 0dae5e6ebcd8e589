//! The backstage's server functions (`/admin`): administrators only. Each
//! reads the caller's role from the database with their session, so a role
//! taken away on any node counts at the caller's next request; anyone else
//! gets exactly the answer a missing page gets. Every change is written to
//! the audit log in its own transaction (see `backend::store::admin`).

pub mod reports;
pub mod rooms;

use crate::protocol::{ApiError, AuditPage, Person};
use leptos::prelude::*;

/// People listed per search.
#[cfg(feature = "ssr")]
const PEOPLE_PAGE: u32 = 100;
/// Audit entries per page.
#[cfg(feature = "ssr")]
const AUDIT_PAGE: u32 = 50;

/// The caller, if an administrator, as the audit log will name them.
#[cfg(feature = "ssr")]
async fn administrator() -> Result<(crate::backend::Services, crate::backend::store::Actor), ApiError> {
    let (services, _, actor) = administrator_in_person().await?;
    Ok((services, actor))
}

/// As [`administrator`], with who they are.
#[cfg(feature = "ssr")]
async fn administrator_in_person() -> Result<
    (
        crate::backend::Services,
        crate::protocol::Me,
        crate::backend::store::Actor,
    ),
    ApiError,
> {
    use crate::backend::{BackendError, client_ip, current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    if me.role != crate::protocol::SiteRole::Admin {
        return Err(BackendError::PageNotFound.into());
    }
    let actor = crate::backend::store::Actor::person(&me, client_ip().await);
    Ok((services, me, actor))
}

/// Most messages one "Remove messages" removes; another click removes the rest.
#[cfg(feature = "ssr")]
const REMOVED_AT_ONCE: u32 = 5_000;

/// `Ok` when `found` names someone, else "no such user".
#[cfg(feature = "ssr")]
fn found<T>(found: Option<T>) -> Result<T, ApiError> {
    found.ok_or_else(|| crate::backend::BackendError::UserNotFound.into())
}

/// People whose name contains `search`, by name.
#[server(endpoint = "admin/people")]
pub async fn admin_people(search: String) -> Result<Vec<Person>, ApiError> {
    let (services, _) = administrator().await?;
    let search: String = search.trim().chars().take(crate::validate::USERNAME_MAX).collect();
    Ok(services.store.people(&search, PEOPLE_PAGE).await?)
}

/// Disables an account (its sessions end and its sockets close) or enables it again.
#[server(endpoint = "admin/set_disabled")]
pub async fn admin_set_disabled(username: String, disabled: bool) -> Result<(), ApiError> {
    let (services, by) = administrator().await?;
    let key = crate::validate::UserKey::of(&username);
    found(services.store.set_disabled(&key, disabled, &by).await?)?;
    if disabled {
        services.publisher.sessions_ended();
    }
    Ok(())
}

/// Ends every session of an account: it logs in again on every device.
#[server(endpoint = "admin/end_sessions")]
pub async fn admin_end_sessions(username: String) -> Result<u64, ApiError> {
    let (services, by) = administrator().await?;
    let key = crate::validate::UserKey::of(&username);
    let (_, ended) = found(services.store.end_sessions(&key, &by).await?)?;
    services.publisher.sessions_ended();
    Ok(ended)
}

/// Removes every message of an account (for spam): each becomes "This
/// message was deleted." for everyone, live and in history, as a deletion
/// in its room's log. Returns how many; at most [`REMOVED_AT_ONCE`] per call.
#[server(endpoint = "admin/remove_messages")]
pub async fn admin_remove_messages(username: String) -> Result<u64, ApiError> {
    use crate::backend::store::{Moderation, NewUpdate, UpdateChange};
    use crate::protocol::AuditAction;
    let (services, me, by) = administrator_in_person().await?;
    let (user, name) = found(services.store.person(&crate::validate::UserKey::of(&username)).await?)?;
    let messages = services.store.live_messages_by(user, REMOVED_AT_ONCE).await?;
    let detail = format!("{} message(s)", messages.len());
    services
        .store
        .record(&by, AuditAction::MessagesRemoved, &name, &detail)
        .await?;
    // All queued before any is awaited: the writer commits them in groups.
    let mut pending = Vec::with_capacity(messages.len());
    for (room, message) in messages {
        let update = NewUpdate {
            room,
            by: me.clone(),
            client_id: crate::validate::ClientMessageId::parse(&format!("remove-{message}"))
                .map_err(crate::backend::BackendError::from)?,
            message,
            change: UpdateChange::Delete,
            moderation: Moderation::AuditedByCaller,
        };
        pending.push(services.writer.submit_update(update).await?);
    }
    let mut removed = 0;
    for outcome in pending {
        match outcome.await {
            Ok(applied) if applied.fresh && applied.update.is_some() => removed += 1,
            // Deleted meanwhile, by its author or another moderator.
            Ok(_) | Err(crate::backend::BackendError::MessageNotFound | crate::backend::BackendError::Invalid(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

/// Gives an account a site role (`member`, `moderator` or `admin`).
#[server(endpoint = "admin/set_role")]
pub async fn admin_set_role(username: String, role: String) -> Result<(), ApiError> {
    use crate::backend::BackendError;
    use crate::validate::Invalid;
    let (services, by) = administrator().await?;
    let role = crate::protocol::SiteRole::parse(&role)
        .ok_or_else(|| BackendError::Invalid(Invalid("There is no such role.".into())))?;
    let key = crate::validate::UserKey::of(&username);
    found(services.store.set_role(&key, role, &by).await?)?;
    Ok(())
}

/// A page of the audit log, newest first: before the entry `before`, of
/// one `action` (see `AuditAction::as_str`) or all.
#[server(endpoint = "admin/audit")]
pub async fn admin_audit(before: Option<i64>, action: Option<String>) -> Result<AuditPage, ApiError> {
    use crate::backend::BackendError;
    use crate::validate::Invalid;
    let (services, _) = administrator().await?;
    let action = match action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(text) => Some(
            crate::protocol::AuditAction::parse(text)
                .ok_or_else(|| BackendError::Invalid(Invalid("There is no such kind of action.".into())))?,
        ),
    };
    Ok(services.store.audit_page(before, action, AUDIT_PAGE).await?)
}

/// The site's settings.
#[server(endpoint = "admin/settings")]
pub async fn admin_settings() -> Result<crate::protocol::SiteSettings, ApiError> {
    let (services, _) = administrator().await?;
    Ok(services.store.settings().await?)
}

/// Longest site name (characters).
pub const SITE_NAME_MAX: usize = 64;
/// Longest an invitation may live (hours) and most sign-ups it may make.
pub const INVITATION_HOURS_MAX: u32 = 30 * 24;
pub const INVITATION_USES_MAX: u32 = 1000;

/// Saves the site's name and sign-up policy (`open`, `invitation` or `closed`).
#[server(endpoint = "admin/save_settings")]
pub async fn admin_save_settings(site_name: String, signups: String) -> Result<(), ApiError> {
    use crate::backend::BackendError;
    use crate::validate::Invalid;
    let (services, by) = administrator().await?;
    let invalid = |why: &str| -> ApiError { BackendError::Invalid(Invalid(why.into())).into() };
    let site_name = site_name.trim();
    let length = site_name.chars().count();
    if length == 0 || length > SITE_NAME_MAX || site_name.chars().any(char::is_control) {
        return Err(invalid("The site name must be 1 to 64 characters, on one line."));
    }
    let signups = crate::protocol::SignupPolicy::parse(&signups)
        .ok_or_else(|| invalid("Choose who may sign up: open, by invitation, or closed."))?;
    let settings = crate::protocol::SiteSettings {
        site_name: site_name.to_owned(),
        signups,
    };
    services.store.save_settings(&settings, &by).await?;
    Ok(())
}

/// The invitations, newest first.
#[server(endpoint = "admin/invitations")]
pub async fn admin_invitations() -> Result<Vec<crate::protocol::Invitation>, ApiError> {
    let (services, _) = administrator().await?;
    Ok(services.store.invitations(100).await?)
}

/// Makes an invitation link good for `uses` sign-ups during `hours`; returns
/// its path (`/signup?invitation=…`), shown once: only its hash is kept.
#[server(endpoint = "admin/create_invitation")]
pub async fn admin_create_invitation(hours: u32, uses: u32) -> Result<String, ApiError> {
    use crate::backend::BackendError;
    use crate::backend::store::TokenHash;
    use crate::validate::Invalid;
    let (services, by) = administrator().await?;
    if !(1..=INVITATION_HOURS_MAX).contains(&hours) || !(1..=INVITATION_USES_MAX).contains(&uses) {
        let why = format!(
            "An invitation lasts 1 to {INVITATION_HOURS_MAX} hours and allows 1 to {INVITATION_USES_MAX} sign-ups."
        );
        return Err(BackendError::Invalid(Invalid(why)).into());
    }
    let token = crate::backend::accounts::random_token()?;
    let expires_at = crate::backend::clock::now_ms() + i64::from(hours) * 3_600_000;
    services
        .store
        .create_invitation(&TokenHash::of(&token), expires_at, i64::from(uses), &by)
        .await?;
    Ok(format!("/signup?invitation={token}"))
}

/// Withdraws an invitation: its link signs nobody up any more.
#[server(endpoint = "admin/revoke_invitation")]
pub async fn admin_revoke_invitation(id: i64) -> Result<(), ApiError> {
    let (services, by) = administrator().await?;
    if services.store.revoke_invitation(id, &by).await? {
        Ok(())
    } else {
        let code = crate::protocol::ErrorCode::NotFound;
        crate::backend::error::set_response_status(code);
        Err(ApiError::new(
            code,
            "There is no such invitation, or it was withdrawn already.",
        ))
    }
}

/// A node unheard of for this long is no longer listed as serving (nodes
/// write a heartbeat every 10 s).
#[cfg(feature = "ssr")]
const NODE_SILENT_MS: i64 = 30_000;
/// Days in the overview's chart.
#[cfg(feature = "ssr")]
const CHART_DAYS: usize = 14;

/// The site at a glance: who is online, how much there is, how busy each of
/// the last 14 days was, and whether the database, Redis and nodes are up.
#[server(endpoint = "admin/overview")]
pub async fn admin_overview() -> Result<crate::protocol::Overview, ApiError> {
    let (services, _) = administrator().await?;
    let now = crate::backend::clock::now_ms();
    let store = &services.store;
    let database = match store.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "overview: the database did not answer");
            "unreachable"
        }
    };
    let redis = match services.presence.ping().await {
        None => "not used",
        Some(Ok(())) => "ok",
        Some(Err(e)) => {
            tracing::warn!(error = %e, "overview: redis did not answer");
            "unreachable"
        }
    };
    // Presence is a nicety: without Redis' answer the rest still shows.
    let online = services.presence.online_people().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "overview: online count unavailable");
        0
    });
    let (accounts, rooms, direct_rooms) = store.site_counts().await?;
    let days = store.messages_per_day(now, CHART_DAYS).await?;
    let messages_today = days.last().map_or(0, |d| d.messages);
    let messages_week = days.iter().rev().take(7).map(|d| d.messages).sum();
    let nodes = store.nodes_seen_since(now - NODE_SILENT_MS).await?;
    Ok(crate::protocol::Overview {
        online,
        accounts,
        rooms,
        direct_rooms,
        messages_today,
        messages_week,
        days,
        database: database.into(),
        redis: redis.into(),
        nodes,
    })
}
