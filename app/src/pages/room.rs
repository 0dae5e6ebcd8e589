//! A room: server-rendered history, then live over the WebSocket.
//!
//! The chat state and its transitions live in [`crate::timeline`]; this page
//! holds one [`Timeline`], renders it, and does what it asks (send frames,
//! retry later, show errors), plus the browser's part: scrolling and the
//! stored outbox.

use crate::api::{AddMember, RemoveMember, load_room, older_messages};
use crate::components::{FormError, LoadError, TopBar, error_message};
use crate::live::{self, ConnState, Handlers, Live};
use crate::outbox;
use crate::protocol::{ApiError, ClientFrame, RoomId, RoomPage, ServerFrame};
use crate::time;
use crate::timeline::{FollowUp, Item, Timeline};
use crate::validate::{MESSAGE_MAX, MessageBody};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn Room() -> impl IntoView {
    let params = use_params_map();
    let room_id = move || params.read().get("id").and_then(|id| id.parse::<i64>().ok());
    let page = Resource::new(room_id, |id| async move {
        match id {
            Some(id) => load_room(id).await,
            None => Err(ApiError::room_not_found()),
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading room…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! { <RoomView page/> }.into_any(),
                    Err(error) => view! { <Title text="Room"/><LoadError error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    #[cfg(feature = "hydrate")]
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_u8_array(&mut bytes);
    }
    #[cfg(feature = "ssr")]
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[component]
fn RoomView(page: RoomPage) -> impl IntoView {
    let RoomPage {
        id: room,
        name,
        topic,
        messages: first_page,
        has_older,
        me,
        private,
        direct,
        owner,
        members,
    } = page;
    let timeline = RwSignal::new(Timeline::new(room, me.username.clone(), first_page, has_older));
    // Views and effects read these slices rather than the whole timeline: a
    // memo notifies only when its slice changes.
    let has_older = Memo::new(move |_| timeline.with(Timeline::has_older));
    let no_messages = Memo::new(move |_| timeline.with(Timeline::has_no_messages));
    let pending = Memo::new(move |_| timeline.with(|t| t.pending().to_vec()));
    let online = Memo::new(move |_| timeline.with(|t| t.online().to_vec()));
    let items = Memo::new(move |_| timeline.with(Timeline::items));
    let loading_older = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let compose_error = RwSignal::new(None::<String>);
    let history_error = RwSignal::new(None::<String>);
    let log_ref = NodeRef::<leptos::html::Div>::new();
    // Whether the view follows new messages (false once the reader scrolls up).
    let stick = StoredValue::new(true);
    let me_name = me.username.clone();

    let since = move || timeline.with_untracked(Timeline::contiguous_end);

    // Thread-safe storage: on the server a page may be dropped on another
    // worker thread than the one that rendered it.
    let live: StoredValue<Option<Live>> = StoredValue::new(None);
    let restored = StoredValue::new(false);
    let send_frame = move |frame: ClientFrame| {
        live.with_value(|l| {
            if let Some(l) = l {
                l.send(frame)
            }
        })
    };

    let on_frame = move |frame: ServerFrame| match timeline.try_update(|t| t.apply(frame)).flatten() {
        None => {}
        Some(FollowUp::CatchUp { since }) => send_frame(ClientFrame::CatchUp { room, since }),
        Some(FollowUp::ResendLater { client_id }) => set_timeout(
            move || {
                // `try_`: the page may have been left within the two seconds.
                if let Some(p) = timeline.try_with_untracked(|t| t.resendable(&client_id)).flatten() {
                    send_frame(ClientFrame::Send {
                        room,
                        client_id: p.client_id,
                        body: p.body,
                    });
                }
            },
            std::time::Duration::from_secs(2),
        ),
        Some(FollowUp::ShowError(message)) => compose_error.set(Some(message)),
    };

    let on_joined = move || {
        for p in timeline.with_untracked(Timeline::unsent) {
            send_frame(ClientFrame::Send {
                room,
                client_id: p.client_id,
                body: p.body,
            });
        }
    };

    let connection = live::connect(
        room,
        Handlers {
            since: Box::new(since),
            on_frame: Box::new(on_frame),
            on_joined: Box::new(on_joined),
        },
    );
    live.set_value(Some(connection));
    let state = connection.state;

    // The outbox lives in the browser's storage too: what was still pending
    // when the page was last left (a reload while offline) comes back, and
    // goes out again once the socket is joined. Effects run only in the
    // browser, after hydration, so the server-rendered page matches.
    let me_for_outbox = me_name.clone();
    Effect::new(move |_| {
        pending.track();
        if !restored.get_value() {
            restored.set_value(true);
            let stored = outbox::load(room, &me_for_outbox);
            if !stored.is_empty() {
                let joined = state.get_untracked().is_live();
                let resend = timeline.try_update(|t| t.restore_outbox(stored)).unwrap_or_default();
                if joined {
                    for p in resend {
                        send_frame(ClientFrame::Send {
                            room,
                            client_id: p.client_id,
                            body: p.body,
                        });
                    }
                }
            }
        }
        // Saved after a restore too, even when nothing came back: the stored
        // copy of what had landed meanwhile goes.
        outbox::save(room, &me_for_outbox, &timeline.with_untracked(|t| t.pending().to_vec()));
    });

    let send = move || {
        let text = draft.get_untracked();
        match MessageBody::parse(&text) {
            Err(e) => compose_error.set(Some(e.0)),
            Ok(body) => {
                compose_error.set(None);
                let client_id = new_client_id();
                let body = body.into_inner();
                timeline.update(|t| t.queue_pending(client_id.clone(), body.clone()));
                draft.set(String::new());
                stick.set_value(true);
                send_frame(ClientFrame::Send { room, client_id, body });
            }
        }
    };

    let load_older = move || {
        if loading_older.get_untracked() || !has_older.get_untracked() {
            return;
        }
        let Some(first) = timeline.with_untracked(Timeline::first_seq) else {
            return;
        };
        loading_older.set(true);
        history_error.set(None);
        let before_height = log_ref.get_untracked().map(|el| el.scroll_height()).unwrap_or(0);
        leptos::task::spawn_local(async move {
            match older_messages(room.0, first).await {
                Ok(page) => {
                    timeline.update(|t| t.older_page_loaded(page.messages, page.has_older));
                    // Keep the reader's place: the log grew above them.
                    request_animation_frame(move || {
                        if let Some(el) = log_ref.get_untracked() {
                            el.set_scroll_top(el.scroll_top() + el.scroll_height() - before_height);
                        }
                    });
                }
                Err(e) => history_error.set(Some(e.message)),
            }
            loading_older.set(false);
        });
    };

    // Follow the conversation unless the reader scrolled up.
    Effect::new(move |_| {
        items.track();
        if stick.get_value() {
            request_animation_frame(move || {
                if let Some(el) = log_ref.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
    });

    let on_scroll = move |_| {
        if let Some(el) = log_ref.get_untracked() {
            stick.set_value(el.scroll_height() - el.scroll_top() - el.client_height() < 48);
            if el.scroll_top() < 4 {
                load_older();
            }
        }
    };

    let render_item = {
        let me_name = me_name.clone();
        move |item: Item| -> AnyView {
            match item {
                Item::Message(m) => {
                    let mine = m.author == me_name;
                    let ms = m.created_at;
                    view! {
                        <article class="msg" class:mine=mine data-seq=m.seq>
                            <header>
                                <span class="author">{m.author}</span>
                                <time datetime=time::iso(ms) title=move || time::date_time(ms, time::offset())>
                                    {move || time::clock(ms, time::offset())}
                                </time>
                                {mine.then(|| view! { <span class="state sent">"Sent"</span> })}
                            </header>
                            <p class="body">{m.body}</p>
                        </article>
                    }
                    .into_any()
                }
                Item::Notice(n) => view! { <p class="notice">{n.text}</p> }.into_any(),
                Item::Pending(p) => {
                    let client_id = p.client_id.clone();
                    let failed = p.failed.clone();
                    let is_failed = failed.is_some();
                    view! {
                        <article class="msg mine pending" class:failed=is_failed>
                            <header>
                                <span class="author">{me_name.clone()}</span>
                                {match failed {
                                    None => view! { <span class="state">"Sending…"</span> }.into_any(),
                                    Some(why) => view! {
                                        <span class="state error" role="alert">{format!("Not sent: {why}")}</span>
                                        <button class="ghost small" on:click=move |_| {
                                            timeline.update(|t| t.dismiss(&client_id));
                                        }>"Dismiss"</button>
                                    }.into_any(),
                                }}
                            </header>
                            <p class="body">{p.body}</p>
                        </article>
                    }
                    .into_any()
                }
            }
        }
    };

    // Built as separate erased views: one nested type for the whole page
    // would exceed the compiler's type-depth limit.
    let head = view! {
        <div class="room-head">
            <div>
                <h1>{name.clone()}</h1>
                {(!topic.is_empty()).then(|| view! { <p class="topic">{topic}</p> })}
            </div>
            <p role="status" class="conn" class:live=move || state.get().is_live()
               class:down=move || matches!(state.get(), ConnState::Reconnecting { .. })>
                {move || state.get().label()}
            </p>
        </div>
    }
    .into_any();

    let log = view! {
        <div class="log" role="log" aria-label="Messages" tabindex="0" node_ref=log_ref on:scroll=on_scroll>
            {move || has_older.get().then(|| view! {
                <button class="ghost load-older" on:click=move |_| load_older()
                        aria-busy=move || loading_older.get().to_string()
                        disabled=move || loading_older.get()>
                    {move || if loading_older.get() { "Loading…" } else { "Load older" }}
                </button>
            })}
            {move || history_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || (!has_older.get() && !no_messages.get()).then(|| view! {
                <p class="notice">"This is the start of the room."</p>
            })}
            {move || (no_messages.get() && pending.with(|p| p.is_empty())).then(|| view! {
                <p class="empty">"No messages yet. Say hello!"</p>
            })}
            <For each=move || items.get() key=Item::key children=render_item.clone()/>
        </div>
    }
    .into_any();

    let compose = view! {
        <form class="compose" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <label for="message" class="visually-hidden">"Message"</label>
            <textarea id="message" name="message" rows="2" placeholder="Write a message…"
                maxlength=MESSAGE_MAX
                prop:value=move || draft.get()
                on:input=move |ev| { draft.set(event_target_value(&ev)); compose_error.set(None); }
                on:keydown=move |ev| {
                    // Enter sends; Shift+Enter (or composing CJK text) makes a new line.
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }
                aria-describedby="compose-error"
            ></textarea>
            <button type="submit">"Send"</button>
            <p id="compose-error" class="error" role="alert">{move || compose_error.get()}</p>
        </form>
    }
    .into_any();

    let me_for_members = me_name.clone();
    // A direct conversation's two people are fixed: nobody manages them.
    let owner = owner && !direct;
    let members_panel = private.then(|| view! { <Members room members owner direct me=me_for_members/> }.into_any());

    let people = view! {
        <aside class="people" aria-labelledby="online-heading">
            <h2 id="online-heading">{move || format!("Online ({})", online.with(Vec::len))}</h2>
            <ul aria-label="Online">
                <For each=move || online.get() key=|name| name.clone() let:name>
                    <li>{name}</li>
                </For>
            </ul>
            {members_panel}
        </aside>
    }
    .into_any();

    view! {
        <Title text=name/>
        <TopBar username=me_name.clone()/>
        <main class="page room">
            {head}
            <div class="room-body">
                <section class="chat">{log}{compose}</section>
                {people}
            </div>
        </main>
    }
}

/// A private room's member list; its owner adds and removes people here.
#[component]
fn Members(room: RoomId, members: Vec<String>, owner: bool, direct: bool, me: String) -> impl IntoView {
    let add = ServerAction::<AddMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let members = RwSignal::new(members);
    // Either action answers with the new list.
    Effect::new(move |_| {
        if let Some(Ok(list)) = add.value().get() {
            members.set(list);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(list)) = remove.value().get() {
            members.set(list);
        }
    });
    let error =
        Signal::derive(move || error_message(add.value().get()).or_else(|| error_message(remove.value().get())));
    view! {
        <section class="members" aria-labelledby="members-heading">
            <h2 id="members-heading">{if direct { "Direct conversation" } else { "Members (private room)" }}</h2>
            <ul aria-label="Members">
                <For each=move || members.get() key=|name| name.clone() let:name>
                    <li>
                        <span>{name.clone()}</span>
                        // The owner manages the others; they cannot remove themselves.
                        {(owner && name != me).then(|| {
                            let label = format!("Remove {name}");
                            let name = name.clone();
                            view! {
                                <button class="ghost small" aria-label=label
                                    on:click=move |_| { remove.dispatch(RemoveMember { room: room.0, username: name.clone() }); }>
                                    "Remove"
                                </button>
                            }
                        })}
                    </li>
                </For>
            </ul>
            {owner.then(|| view! {
                <ActionForm action=add attr:class="add-member">
                    <input type="hidden" name="room" value=room.0/>
                    <label for="member-name">"Member username"</label>
                    <input id="member-name" name="username" required autocomplete="off"/>
                    <button type="submit" disabled=move || add.pending().get()>"Add member"</button>
                </ActionForm>
            })}
            <FormError error/>
        </section>
    }
}
