//! Moderation in a room, by its owner and its moderators (and, in a public
//! room, the site's moderators and administrators): appointing moderators
//! (the owner only), muting someone for a while and banning them from a
//! public room. Every change is audited and reaches every node at once: the
//! door forgets the room, and a banned person's sockets leave it.

use crate::protocol::{ApiError, RoomStanding};
use leptos::prelude::*;

/// The longest mute, in minutes (a week).
pub const MUTE_MINUTES_MAX: u32 = 7 * 24 * 60;

/// Who moderates, where, and how much.
#[cfg(feature = "ssr")]
struct Moderating {
    services: crate::backend::Services,
    me: crate::protocol::Me,
    room: crate::backend::store::RoomRow,
    access: crate::backend::Access,
    by: crate::backend::store::Actor,
}

/// The caller, if they moderate `room`.
#[cfg(feature = "ssr")]
async fn moderating(room: i64) -> Result<Moderating, ApiError> {
    use crate::backend::error::Refusal;
    use crate::backend::{BackendError, client_ip, current_user, services};
    let services = services()?;
    let me = current_user(&services).await?;
    let (row, access) = services.access.room(me.id, crate::protocol::RoomId(room)).await?;
    if !services.access.moderates(me.id, row.id, access).await? {
        return Err(BackendError::Forbidden(Refusal::NotModerator).into());
    }
    let by = crate::backend::store::Actor::person(&me, client_ip().await);
    Ok(Moderating {
        services,
        me,
        room: row,
        access,
        by,
    })
}

/// Applies `change` to the person called `username` in `room`, after the
/// rules: nobody acts on themself or the owner, and only the owner (or a
/// site administrator) acts on a moderator.
#[cfg(feature = "ssr")]
async fn change_standing(
    room: i64,
    username: &str,
    change: crate::backend::store::StandingChange,
) -> Result<(), ApiError> {
    use crate::backend::error::Refusal;
    use crate::backend::store::StandingChange;
    use crate::backend::{Access, BackendError, RoomEvent};
    let Moderating {
        services,
        me,
        room: row,
        access,
        by,
    } = moderating(room).await?;
    let key = crate::validate::UserKey::of(username.trim());
    let (user, name, standing) = services
        .store
        .standing_of(row.id, &key)
        .await?
        .ok_or(BackendError::UserNotFound)?;
    // The role as read with this request's session: current.
    let in_charge = access == Access::Own || me.role == crate::protocol::SiteRole::Admin;
    let untouchable = user == me.id || user == row.owner || (standing.moderator && !in_charge);
    match change {
        StandingChange::Moderator(_) if !in_charge => {
            return Err(BackendError::Forbidden(Refusal::NotRoomOwner).into());
        }
        StandingChange::Moderator(_) if row.direct => {
            return Err(BackendError::Forbidden(Refusal::DirectUnchangeable).into());
        }
        StandingChange::Banned(_) if row.private => {
            return Err(BackendError::Forbidden(Refusal::BanInPrivateRoom).into());
        }
        StandingChange::Banned(_) | StandingChange::MutedUntil(_) if untouchable => {
            return Err(BackendError::Forbidden(Refusal::Untouchable).into());
        }
        _ => {}
    }
    if row.private && !services.store.members(row.id).await?.contains(&name) {
        return Err(BackendError::UserNotFound.into());
    }
    services
        .store
        .set_standing((row.id, &row.name), (user, &name), change, &by)
        .await?;
    let mut events = vec![RoomEvent::AccessChanged { room: row.id }];
    if change == StandingChange::Banned(true) {
        events.push(RoomEvent::MemberRemoved { room: row.id, user });
    }
    services.publisher.publish(events).await;
    Ok(())
}

/// The room's moderators, and who is banned or muted in it now.
#[server(endpoint = "room_standings")]
pub async fn room_standings(room: i64) -> Result<Vec<RoomStanding>, ApiError> {
    let Moderating {
        services, room: row, ..
    } = moderating(room).await?;
    let now = crate::backend::clock::now_ms();
    Ok(services
        .store
        .standings(row.id)
        .await?
        .into_iter()
        .map(|(_, username, s)| RoomStanding {
            username,
            moderator: s.moderator,
            banned: s.banned,
            muted_until: s.muted_at(now),
        })
        // A mute that ran out is nothing to show.
        .filter(|s| s.moderator || s.banned || s.muted_until.is_some())
        .collect())
}

/// Makes `username` a moderator of the room, or a plain member again (its owner only).
#[server(endpoint = "set_room_moderator")]
pub async fn set_room_moderator(room: i64, username: String, moderator: bool) -> Result<(), ApiError> {
    change_standing(
        room,
        &username,
        crate::backend::store::StandingChange::Moderator(moderator),
    )
    .await
}

/// Bans `username` from a public room (their sockets leave it at once), or lifts the ban.
#[server(endpoint = "ban_from_room")]
pub async fn ban_from_room(room: i64, username: String, banned: bool) -> Result<(), ApiError> {
    change_standing(room, &username, crate::backend::store::StandingChange::Banned(banned)).await
}

/// Mutes `username` in the room for `minutes` (1 to a week), or lifts the mute (0).
#[server(endpoint = "mute_in_room")]
pub async fn mute_in_room(room: i64, username: String, minutes: u32) -> Result<(), ApiError> {
    use crate::backend::BackendError;
    use crate::validate::Invalid;
    if minutes > MUTE_MINUTES_MAX {
        let why = format!("A mute lasts at most a week ({MUTE_MINUTES_MAX} minutes).");
        return Err(BackendError::Invalid(Invalid(why)).into());
    }
    let until = (minutes > 0).then(|| crate::backend::clock::now_ms() + i64::from(minutes) * 60_000);
    change_standing(
        room,
        &username,
        crate::backend::store::StandingChange::MutedUntil(until),
    )
    .await
}
