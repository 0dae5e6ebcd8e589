//! The room list and the form to create a room.

use crate::api::{CreateRoom, DirectMessage, list_rooms, who_am_i};
use crate::components::{FormError, LoadError, ToLogin, TopBar, error_message};
use crate::protocol::RoomSummary;
use crate::time;
use crate::validate::{ROOM_NAME_MAX, TOPIC_MAX, USERNAME_MAX};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn Home() -> impl IntoView {
    let create = ServerAction::<CreateRoom>::new();
    let direct = ServerAction::<DirectMessage>::new();
    let me = Resource::new(|| (), |_| who_am_i());
    let rooms = Resource::new(move || create.version().get(), |_| list_rooms());

    view! {
        <Title text="Rooms"/>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => view! {
                        <TopBar username=me.username admin=me.role == crate::protocol::SiteRole::Admin/>
                        <main class="page home">
                            <section aria-labelledby="rooms-heading">
                                <h1 id="rooms-heading">"Rooms"</h1>
                                <Transition fallback=|| view! { <p class="loading" role="status">"Loading rooms…"</p> }>
                                    {move || Suspend::new(async move {
                                        match rooms.await {
                                            Ok(list) => view! { <RoomList rooms=list/> }.into_any(),
                                            Err(e) => view! { <LoadError error=e/> }.into_any(),
                                        }
                                    })}
                                </Transition>
                            </section>
                            <section class="card" aria-labelledby="create-heading">
                                <h2 id="create-heading">"New room"</h2>
                                <ActionForm action=create>
                                    <label for="room-name">"Room name"</label>
                                    <input id="room-name" name="name" required maxlength=ROOM_NAME_MAX/>
                                    <label for="room-topic">"Topic"</label>
                                    <input id="room-topic" name="topic" maxlength=TOPIC_MAX placeholder="Optional"/>
                                    <label class="check">
                                        <input type="checkbox" name="private" value="on"/>
                                        "Private room (only members you add can see it)"
                                    </label>
                                    <FormError error=Signal::derive(move || error_message(create.value().get()))/>
                                    <button type="submit" disabled=move || create.pending().get()>"Create room"</button>
                                </ActionForm>
                            </section>
                            <section class="card" aria-labelledby="direct-heading">
                                <h2 id="direct-heading">"Direct message"</h2>
                                <ActionForm action=direct>
                                    <label for="direct-name">"Username"</label>
                                    <input id="direct-name" name="username" required maxlength=USERNAME_MAX autocomplete="off"/>
                                    <FormError error=Signal::derive(move || error_message(direct.value().get()))/>
                                    <button type="submit" disabled=move || direct.pending().get()>"Open conversation"</button>
                                </ActionForm>
                            </section>
                        </main>
                    }.into_any(),
                    Ok(None) => view! { <ToLogin/> }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RoomList(rooms: Vec<RoomSummary>) -> impl IntoView {
    if rooms.is_empty() {
        return view! { <p class="empty">"No rooms yet. Create the first one."</p> }.into_any();
    }
    view! {
        <ul class="rooms" aria-label="Rooms">
            {rooms.into_iter().map(|room| {
                let href = format!("/rooms/{}", room.id);
                let last = room.last_message_at;
                view! {
                    <li>
                        <span class="room-title">
                            <A href=href attr:class="room-link">{room.name}</A>
                            {room.private.then(|| view! {
                                <span class="badge">{if room.direct { "Direct" } else { "Private" }}</span>
                            })}
                        </span>
                        <span class="topic">{room.topic}</span>
                        <span class="meta">
                            <span class="online-count">{format!("{} online", room.online)}</span>
                            {move || match last {
                                Some(ms) => view! {
                                    <time datetime=time::iso(ms)>{format!("last message {}", time::date_time(ms, time::offset()))}</time>
                                }.into_any(),
                                None => view! { <span>"no messages yet"</span> }.into_any(),
                            }}
                        </span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
