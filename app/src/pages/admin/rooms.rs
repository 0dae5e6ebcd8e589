//! The backstage's Rooms section: every room with its members, messages and
//! last activity; edit (name, topic, owner), archive or restore, and delete
//! after typing the room's name. Never a message of any room.

use super::{Actions, column_heads};
use crate::backstage::rooms::{AdminArchiveRoom, admin_rooms};
use crate::components::{FormError, error_message, modal_follows};
use crate::protocol::{AdminRoom, RoomKind};
use crate::time;
use leptos::prelude::*;

#[component]
pub(super) fn Rooms(actions: Actions) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let rooms = Resource::new(
        move || (search.get(), actions.version()),
        |(search, _)| admin_rooms(search),
    );
    // The room whose dialog is open.
    let editing = RwSignal::new(None::<AdminRoom>);
    let deleting = RwSignal::new(None::<AdminRoom>);
    // A dialog closes once its action succeeded; a refusal keeps it open with its reason.
    Effect::new(move |_| {
        if matches!(actions.update_room.value().get(), Some(Ok(()))) {
            editing.set(None);
        }
    });
    Effect::new(move |_| {
        if matches!(actions.delete_room.value().get(), Some(Ok(()))) {
            deleting.set(None);
        }
    });
    view! {
        <section class="card backstage" aria-labelledby="rooms-heading">
            <h2 id="rooms-heading">"Rooms"</h2>
            <input type="search" class="people-search" aria-label="Search rooms" placeholder="Search by name"
                maxlength=crate::validate::ROOM_NAME_MAX
                on:input=move |ev| search.set(event_target_value(&ev))/>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading rooms…"</p> }>
                {move || Suspend::new(async move {
                    match rooms.await {
                        Ok(list) if list.is_empty() => view! { <p class="empty">"No room by that name."</p> }.into_any(),
                        Ok(list) => view! { <RoomTable rooms=list actions editing deleting/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <EditDialog actions editing/>
            <DeleteDialog actions deleting/>
        </section>
    }
}

#[component]
fn RoomTable(
    rooms: Vec<AdminRoom>,
    actions: Actions,
    editing: RwSignal<Option<AdminRoom>>,
    deleting: RwSignal<Option<AdminRoom>>,
) -> impl IntoView {
    let offset = time::offset();
    view! {
        <div class="table-scroll">
            <table class="rooms-admin" aria-label="Rooms">
                {column_heads(&["Name", "Kind", "Owner", "Members", "Messages", "Last activity", "State", "Actions"], None)}
                <tbody>
                    {rooms.into_iter().map(|room| {
                        let (id, archived, direct) = (room.id.0, room.archived, room.kind == RoomKind::Direct);
                        let (for_edit, for_delete) = (room.clone(), room.clone());
                        view! {
                            <tr class:disabled=archived data-room=id>
                                <th scope="row">
                                    {room.name}
                                    {(!room.topic.is_empty()).then(|| view! { <span class="room-topic">{room.topic}</span> })}
                                </th>
                                <td>{room.kind.label()}</td>
                                <td>{room.owner}</td>
                                <td>{room.members}</td>
                                <td>{room.messages}</td>
                                <td>{match room.last_activity {
                                    Some(ms) => view! { <time datetime=time::iso(ms)>{time::date_time(ms, offset)}</time> }.into_any(),
                                    None => view! { <span>"—"</span> }.into_any(),
                                }}</td>
                                <td>{if archived { "Archived" } else { "Active" }}</td>
                                <td class="row-actions">
                                    {(!direct).then(|| view! {
                                        <button type="button" class="ghost"
                                            on:click=move |_| {
                                                // A new dialog, without the last one's refusal.
                                                actions.update_room.value().set(None);
                                                editing.set(Some(for_edit.clone()));
                                            }>"Edit"</button>
                                    })}
                                    <button type="button" class="ghost"
                                        on:click=move |_| {
                                            actions.archive_room.dispatch(AdminArchiveRoom { room: id, archived: !archived });
                                        }>
                                        {if archived { "Restore" } else { "Archive" }}
                                    </button>
                                    <button type="button" class="danger"
                                        on:click=move |_| {
                                            actions.delete_room.value().set(None);
                                            deleting.set(Some(for_delete.clone()));
                                        }>"Delete room"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Renaming, re-topicking and handing a room over, in one form.
#[component]
fn EditDialog(actions: Actions, editing: RwSignal<Option<AdminRoom>>) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    modal_follows(dialog, move || editing.with(Option::is_some));
    view! {
        <dialog class="confirm" aria-labelledby="edit-room-title" node_ref=dialog
            on:close=move |_| editing.set(None)>
            {move || editing.get().map(|room| view! {
                <h2 id="edit-room-title">{format!("Edit room {}", room.name)}</h2>
                <ActionForm action=actions.update_room attr:class="dialog-form">
                    <input type="hidden" name="room" value=room.id.0/>
                    <label for="edit-room-name">"Name"</label>
                    <input id="edit-room-name" name="name" required maxlength=crate::validate::ROOM_NAME_MAX value=room.name/>
                    <label for="edit-room-topic">"Topic"</label>
                    <input id="edit-room-topic" name="topic" maxlength=crate::validate::TOPIC_MAX value=room.topic/>
                    <label for="edit-room-owner">"Owner"</label>
                    <input id="edit-room-owner" name="owner" required maxlength=crate::validate::USERNAME_MAX value=room.owner/>
                    // The refusal shows here too: the page behind a modal dialog is out of reach.
                    <FormError error=Signal::derive(move || error_message(actions.update_room.value().get()))/>
                    <div class="dialog-actions">
                        <button type="button" class="ghost" on:click=move |_| editing.set(None)>"Cancel"</button>
                        <button type="submit" disabled=move || actions.update_room.pending().get()>"Save room"</button>
                    </div>
                </ActionForm>
            })}
        </dialog>
    }
}

/// Deleting asks for the room's name, typed: the dialog says what goes with it.
#[component]
fn DeleteDialog(actions: Actions, deleting: RwSignal<Option<AdminRoom>>) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    modal_follows(dialog, move || deleting.with(Option::is_some));
    view! {
        <dialog class="confirm" aria-labelledby="delete-room-title" aria-describedby="delete-room-help"
            node_ref=dialog on:close=move |_| deleting.set(None)>
            {move || deleting.get().map(|room| {
                let what = match room.messages {
                    1 => "its 1 message".to_string(),
                    n => format!("its {n} messages"),
                };
                view! {
                    <h2 id="delete-room-title">{format!("Delete room {}?", room.name)}</h2>
                    <p id="delete-room-help">
                        {format!(
                            "This deletes {} with {what} and files, for everyone, for good. Type the room's name to confirm.",
                            room.name
                        )}
                    </p>
                    <ActionForm action=actions.delete_room attr:class="dialog-form">
                        <input type="hidden" name="room" value=room.id.0/>
                        <label for="delete-room-name">"Room name"</label>
                        <input id="delete-room-name" name="confirmation" required autocomplete="off"/>
                        <FormError error=Signal::derive(move || error_message(actions.delete_room.value().get()))/>
                        <div class="dialog-actions">
                            <button type="button" class="ghost" on:click=move |_| deleting.set(None)>"Cancel"</button>
                            <button type="submit" class="danger" disabled=move || actions.delete_room.pending().get()>
                                "Delete for good"
                            </button>
                        </div>
                    </ActionForm>
                }
            })}
        </dialog>
    }
}
