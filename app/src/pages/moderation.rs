//! The room page's moderation panel, for the room's owner and moderators
//! (and the site's moderators in a public room): mute someone for a while,
//! ban them from a public room, appoint moderators (the owner), and see and
//! lift what is in force.

use crate::components::{FormError, error_message};
use crate::moderation::{BanFromRoom, MUTE_MINUTES_MAX, MuteInRoom, SetRoomModerator, room_standings};
use crate::protocol::{RoomId, RoomStanding};
use crate::time;
use leptos::prelude::*;

/// Mute lengths offered, in minutes, with their names.
const MUTE_FOR: [(u32, &str); 4] = [
    (10, "10 minutes"),
    (60, "1 hour"),
    (24 * 60, "1 day"),
    (MUTE_MINUTES_MAX, "1 week"),
];

#[component]
pub fn ModerationPanel(room: RoomId, owner: bool, private: bool) -> impl IntoView {
    let mute = ServerAction::<MuteInRoom>::new();
    let ban = ServerAction::<BanFromRoom>::new();
    let appoint = ServerAction::<SetRoomModerator>::new();
    let standings = Resource::new(
        move || mute.version().get() + ban.version().get() + appoint.version().get(),
        move |_| room_standings(room.0),
    );
    let person = RwSignal::new(String::new());
    let minutes = RwSignal::new(MUTE_FOR[0].0);
    let error = Signal::derive(move || {
        error_message(mute.value().get())
            .or_else(|| error_message(ban.value().get()))
            .or_else(|| error_message(appoint.value().get()))
    });
    let who = move || person.get_untracked().trim().to_owned();
    view! {
        <section class="moderation" aria-labelledby="moderation-heading">
            <h2 id="moderation-heading">"Moderation"</h2>
            <form class="moderate-form" on:submit=move |ev| {
                ev.prevent_default();
                mute.dispatch(MuteInRoom { room: room.0, username: who(), minutes: minutes.get_untracked() });
            }>
                <label for="moderate-person">"Person"</label>
                <input id="moderate-person" required maxlength=crate::validate::USERNAME_MAX autocomplete="off"
                    prop:value=move || person.get() on:input=move |ev| person.set(event_target_value(&ev))/>
                <label for="mute-for">"Mute for"</label>
                <select id="mute-for" on:change=move |ev| {
                    if let Ok(m) = event_target_value(&ev).parse() { minutes.set(m); }
                }>
                    {MUTE_FOR.into_iter().map(|(m, label)| view! { <option value=m>{label}</option> }).collect_view()}
                </select>
                <div class="moderate-buttons">
                    <button type="submit" class="ghost small">"Mute"</button>
                    {(!private).then(|| view! {
                        <button type="button" class="ghost small danger-text"
                            on:click=move |_| { ban.dispatch(BanFromRoom { room: room.0, username: who(), banned: true }); }>
                            "Ban"
                        </button>
                    })}
                    {owner.then(|| view! {
                        <button type="button" class="ghost small"
                            on:click=move |_| { appoint.dispatch(SetRoomModerator { room: room.0, username: who(), moderator: true }); }>
                            "Make moderator"
                        </button>
                    })}
                </div>
                <FormError error/>
            </form>
            // No loading note: the page's one status is its connection's.
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = standings.await.unwrap_or_default();
                    view! { <StandingList list room owner mute ban appoint/> }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn StandingList(
    list: Vec<RoomStanding>,
    room: RoomId,
    owner: bool,
    mute: ServerAction<MuteInRoom>,
    ban: ServerAction<BanFromRoom>,
    appoint: ServerAction<SetRoomModerator>,
) -> impl IntoView {
    let offset = time::offset();
    if list.is_empty() {
        return ().into_any();
    }
    view! {
        <ul class="standings" aria-label="Moderators, muted and banned">
            {list.into_iter().map(|s| {
                let name = s.username.clone();
                let (for_mute, for_ban, for_appoint) = (name.clone(), name.clone(), name.clone());
                let muted = s.muted_until;
                view! {
                    <li>
                        <span class="who">{s.username}</span>
                        {s.moderator.then(|| view! { <span class="badge">"Moderator"</span> })}
                        {s.banned.then(|| view! { <span class="badge bad">"Banned"</span> })}
                        {muted.map(|until| view! {
                            <span class="badge">{format!("Muted until {}", time::clock(until, offset))}</span>
                        })}
                        {muted.map(|_| view! {
                            <button type="button" class="ghost small" aria-label=format!("Unmute {for_mute}")
                                on:click=move |_| { mute.dispatch(MuteInRoom { room: room.0, username: for_mute.clone(), minutes: 0 }); }>
                                "Unmute"
                            </button>
                        })}
                        {s.banned.then(|| view! {
                            <button type="button" class="ghost small" aria-label=format!("Unban {for_ban}")
                                on:click=move |_| { ban.dispatch(BanFromRoom { room: room.0, username: for_ban.clone(), banned: false }); }>
                                "Unban"
                            </button>
                        })}
                        {(s.moderator && owner).then(|| view! {
                            <button type="button" class="ghost small" aria-label=format!("Remove moderator {for_appoint}")
                                on:click=move |_| { appoint.dispatch(SetRoomModerator { room: room.0, username: for_appoint.clone(), moderator: false }); }>
                                "Remove moderator"
                            </button>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
