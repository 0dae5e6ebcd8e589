//! The room page's sidebar: the rooms and conversations someone keeps up
//! with, each a link (switching rooms keeps the page and its connection)
//! with what is unread in it. On a phone it is a drawer behind "Rooms".

use super::chat::Chat;
use super::notify;
use crate::protocol::SidebarRoom;
use leptos::prelude::*;
use leptos_router::components::A;

/// A link's accessible name: the room's, then what is unread in it.
fn link_label(room: &SidebarRoom) -> String {
    let mut label = room.name.clone();
    if let Some(unread) = room.unread_label() {
        label.push_str(&format!(", {unread} unread"));
    }
    match room.mentions {
        0 => {}
        1 => label.push_str(", 1 mention"),
        n => label.push_str(&format!(", {n} mentions")),
    }
    label
}

#[component]
pub fn Sidebar() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let rooms = Memo::new(move |_| chat.unread.with(|u| u.rooms().to_vec()));
    view! {
        <nav class="sidebar" class:open=move || chat.drawer.get() aria-label="Rooms" id="sidebar"
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Escape" && chat.drawer.get_untracked() {
                    chat.drawer.set(false);
                }
            }>
            <ul>
                <For each=move || rooms.get() key=|room| room.clone() let:room>
                    {
                        let label = link_label(&room);
                        let unread = room.unread_label();
                        let loud = unread.is_some() && !room.quiet;
                        let kind = if room.direct { "@" } else if room.private { "🔒" } else { "#" };
                        view! {
                            <li>
                                <A href=format!("/rooms/{}", room.id) attr:aria-label=label
                                    attr:class=if loud { "unread" } else { "" }
                                    on:click=move |_| chat.drawer.set(false)>
                                    <span class="kind" aria-hidden="true">{kind}</span>
                                    <span class="name">{room.name.clone()}</span>
                                    {(room.mentions > 0).then(|| view! {
                                        <span class="badge mention-count" aria-hidden="true">{format!("@{}", room.mentions)}</span>
                                    })}
                                    {unread.map(|n| view! { <span class="badge unread-count" aria-hidden="true">{n}</span> })}
                                </A>
                            </li>
                        }
                    }
                </For>
            </ul>
            {move || rooms.with(Vec::is_empty).then(|| view! {
                <p class="muted">"Rooms you open will be listed here."</p>
            })}
            <A href="/" attr:class="all-rooms">"All rooms"</A>
            <Notifications/>
        </nav>
    }
}

/// The switch for browser notifications: the browser asks for permission
/// only when it is turned on here.
#[component]
fn Notifications() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let error = RwSignal::new(None::<String>);
    let turn_on = move |_| {
        leptos::task::spawn_local(async move {
            match notify::enable().await {
                Ok(()) => {
                    error.set(None);
                    chat.notifying.set(true);
                }
                Err(why) => error.set(Some(why)),
            }
        })
    };
    let turn_off = move |_| {
        notify::disable();
        chat.notifying.set(false);
    };
    view! {
        <div class="notifications">
            {move || if chat.notifying.get() {
                view! { <button type="button" class="ghost small" on:click=turn_off>"Turn off notifications"</button> }.into_any()
            } else {
                view! { <button type="button" class="ghost small" on:click=turn_on>"Enable notifications"</button> }.into_any()
            }}
            <p class="error" role="alert">{move || error.get()}</p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RoomId;

    #[test]
    fn a_link_is_named_by_its_room_and_what_is_unread() {
        let mut room = SidebarRoom {
            id: RoomId(1),
            name: "Design review".into(),
            private: false,
            direct: false,
            unread: 0,
            mentions: 0,
            read_seq: 0,
            last_seq: 0,
            quiet: false,
        };
        assert_eq!(link_label(&room), "Design review");
        room.unread = 3;
        assert_eq!(link_label(&room), "Design review, 3 unread");
        room.mentions = 1;
        room.unread = 150;
        assert_eq!(link_label(&room), "Design review, 99+ unread, 1 mention");
    }
}
