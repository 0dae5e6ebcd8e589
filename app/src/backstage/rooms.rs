//! The backstage's rooms: every room with how busy it is, and renaming,
//! re-topicking, handing over, archiving and deleting them. Only
//! administrators; every change is audited and reaches every node at once
//! (who may do what in the room is re-read on the next request or frame).

use crate::protocol::{AdminRoom, ApiError};
use leptos::prelude::*;

/// Rooms listed per search.
#[cfg(feature = "ssr")]
const ROOMS_PAGE: u32 = 100;

/// Tells every node that what it remembers of `room` is stale.
#[cfg(feature = "ssr")]
async fn access_changed(services: &crate::backend::Services, room: crate::protocol::RoomId) {
    use crate::backend::RoomEvent;
    services
        .publisher
        .publish(vec![RoomEvent::AccessChanged { room }])
        .await;
}

/// Rooms whose name contains `search`, most recently active first.
#[server(endpoint = "admin/rooms")]
pub async fn admin_rooms(search: String) -> Result<Vec<AdminRoom>, ApiError> {
    let (services, _) = super::administrator().await?;
    let search: String = search.trim().chars().take(crate::validate::ROOM_NAME_MAX).collect();
    Ok(services.store.admin_rooms(&search, ROOMS_PAGE).await?)
}

/// Renames a room, sets its topic, and gives it to `owner`.
#[server(endpoint = "admin/update_room")]
pub async fn admin_update_room(room: i64, name: String, topic: String, owner: String) -> Result<(), ApiError> {
    use crate::backend::BackendError;
    use crate::validate::{RoomName, Topic, UserKey};
    let (services, by) = super::administrator().await?;
    let name = RoomName::parse(&name).map_err(BackendError::from)?;
    let topic = Topic::parse(&topic).map_err(BackendError::from)?;
    let owner = UserKey::of(owner.trim());
    let change = crate::backend::store::RoomChange {
        name: &name,
        topic: &topic,
        owner: &owner,
    };
    let room = crate::protocol::RoomId(room);
    services.store.update_room(room, &change, &by).await?;
    access_changed(&services, room).await;
    Ok(())
}

/// Archives a room (read-only for everyone, left out of the room list) or
/// restores it.
#[server(endpoint = "admin/archive_room")]
pub async fn admin_archive_room(room: i64, archived: bool) -> Result<(), ApiError> {
    let (services, by) = super::administrator().await?;
    let room = crate::protocol::RoomId(room);
    services.store.set_room_archived(room, archived, &by).await?;
    access_changed(&services, room).await;
    Ok(())
}

/// Deletes a room and everything in it, for good. `confirmation` must be
/// the room's name as written: a slip of the mouse deletes nothing.
#[server(endpoint = "admin/delete_room")]
pub async fn admin_delete_room(room: i64, confirmation: String) -> Result<(), ApiError> {
    let (services, by) = super::administrator().await?;
    let room = crate::protocol::RoomId(room);
    services.store.delete_room(room, &confirmation, &by).await?;
    access_changed(&services, room).await;
    Ok(())
}
