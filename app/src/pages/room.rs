//! A room: server-rendered history, then live over the WebSocket.
//!
//! The page owns the chat state: committed messages keyed by their sequence
//! (so order and de-duplication come from the server's numbering), join/leave
//! notices, and the sender's pending messages, which stay visible until the
//! server acknowledges them after the commit.

use crate::api::{AddMember, RemoveMember, load_room, older_messages};
use crate::components::{FormError, LoadError, TopBar, error_message};
use crate::live::{self, ConnState, Handlers, Live};
use crate::outbox::{self, Pending};
use crate::protocol::{
    ApiError, ChatMessage, ClientFrame, ErrorCode, RoomId, RoomPage, Seq, ServerFrame, apply_presence,
};
use crate::time;
use crate::validate::{MESSAGE_MAX, MessageBody};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use std::collections::BTreeMap;

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

#[derive(Clone, Debug, PartialEq)]
struct Notice {
    id: u64,
    /// Shown after this message.
    after: Seq,
    text: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Message(ChatMessage),
    Notice(Notice),
    Pending(Pending),
}

impl Item {
    fn key(&self) -> String {
        match self {
            Item::Message(m) => format!("m{}", m.seq),
            Item::Notice(n) => format!("n{}", n.id),
            Item::Pending(p) => format!("p{}", p.client_id),
        }
    }
}

/// The last sequence up to which this page has every message: where a
/// catch-up resumes. Holes (a message skipped by a reordering) stop it.
fn contiguous_end(messages: &BTreeMap<Seq, ChatMessage>) -> Seq {
    let mut iter = messages.keys();
    let Some(&first) = iter.next() else { return 0 };
    let mut end = first;
    for &seq in iter {
        if seq != end + 1 {
            break;
        }
        end = seq;
    }
    end
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
    let messages = RwSignal::new(first_page.into_iter().map(|m| (m.seq, m)).collect::<BTreeMap<_, _>>());
    let has_older = RwSignal::new(has_older);
    let loading_older = RwSignal::new(false);
    let pending = RwSignal::new(Vec::<Pending>::new());
    let notices = RwSignal::new(Vec::<Notice>::new());
    let online = RwSignal::new(Vec::<String>::new());
    let draft = RwSignal::new(String::new());
    let compose_error = RwSignal::new(None::<String>);
    let history_error = RwSignal::new(None::<String>);
    let log_ref = NodeRef::<leptos::html::Div>::new();
    // Whether the view follows new messages (false once the reader scrolls up).
    let stick = StoredValue::new(true);
    let me_name = me.username.clone();

    let since = move || messages.with_untracked(contiguous_end);

    let insert = move |message: ChatMessage| {
        pending.update(|p| p.retain(|p| p.client_id != message.client_id || message.author != me.username));
        messages.update(|m| {
            m.insert(message.seq, message);
        });
    };

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

    let me_for_frames = me_name.clone();
    let on_frame = move |frame: ServerFrame| match frame {
        ServerFrame::Joined { room: r, online: names } | ServerFrame::Online { room: r, online: names }
            if r == room =>
        {
            online.set(names)
        }
        ServerFrame::CatchUp {
            room: r,
            messages: batch,
            more,
        } if r == room => {
            for m in batch {
                insert(m);
            }
            if more {
                send_frame(ClientFrame::CatchUp { room, since: since() });
            }
        }
        ServerFrame::Message { message } if message.room == room => {
            let seq = message.seq;
            let expected = since() + 1;
            insert(message);
            // A hole before this message: ask for what is missing.
            if seq > expected && expected > 1 {
                send_frame(ClientFrame::CatchUp {
                    room,
                    since: expected - 1,
                });
            }
        }
        ServerFrame::Ack {
            room: r,
            client_id,
            id,
            seq,
            created_at,
        } if r == room => {
            let body = pending.with_untracked(|p| p.iter().find(|p| p.client_id == client_id).map(|p| p.body.clone()));
            if let Some(body) = body {
                insert(ChatMessage {
                    id,
                    room,
                    seq,
                    author: me_for_frames.clone(),
                    body,
                    created_at,
                    client_id,
                });
            }
        }
        ServerFrame::Presence {
            room: r,
            username,
            joined,
        } if r == room => {
            // The server sends the list once, on joining, then only who came and went.
            online.update(|names| apply_presence(names, &username, joined));
            let after = messages.with_untracked(|m| m.keys().next_back().copied().unwrap_or(0));
            let text = if joined {
                format!("{username} joined")
            } else {
                format!("{username} left")
            };
            notices.update(|n| {
                let id = n.len() as u64;
                n.push(Notice { id, after, text });
            });
        }
        ServerFrame::Error {
            code,
            message,
            client_id: Some(client_id),
        } if !code.is_retryable() => {
            pending.update(|p| {
                if let Some(p) = p.iter_mut().find(|p| p.client_id == client_id) {
                    p.failed = Some(message);
                }
            });
        }
        ServerFrame::Error {
            client_id: Some(client_id),
            ..
        } => {
            // Retryable (e.g. the server's database is down): it stays
            // pending and is offered again shortly.
            set_timeout(
                move || {
                    let again = pending.with_untracked(|p| {
                        p.iter()
                            .find(|p| p.client_id == client_id && p.failed.is_none())
                            .cloned()
                    });
                    if let Some(p) = again {
                        send_frame(ClientFrame::Send {
                            room,
                            client_id: p.client_id,
                            body: p.body,
                        });
                    }
                },
                std::time::Duration::from_secs(2),
            );
        }
        ServerFrame::Error {
            code: ErrorCode::Resync,
            ..
        } => {}
        ServerFrame::Error {
            message,
            client_id: None,
            ..
        } => compose_error.set(Some(message)),
        _ => {}
    };

    let on_joined = move || {
        for p in pending.get_untracked().into_iter().filter(|p| p.failed.is_none()) {
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
        let now = pending.get();
        if !restored.get_value() {
            restored.set_value(true);
            let stored = outbox::load(room, &me_for_outbox);
            if !stored.is_empty() {
                let joined = state.get_untracked().is_live();
                pending.update(|p| {
                    for s in stored {
                        // One that landed before the page was left is in the history already.
                        let landed = messages.with_untracked(|m| {
                            m.values()
                                .any(|m| m.client_id == s.client_id && m.author == me_for_outbox)
                        });
                        if !landed && !p.iter().any(|p| p.client_id == s.client_id) {
                            if joined && s.failed.is_none() {
                                send_frame(ClientFrame::Send {
                                    room,
                                    client_id: s.client_id.clone(),
                                    body: s.body.clone(),
                                });
                            }
                            p.push(s);
                        }
                    }
                });
                return;
            }
        }
        outbox::save(room, &me_for_outbox, &now);
    });

    let send = move || {
        let text = draft.get_untracked();
        match MessageBody::parse(&text) {
            Err(e) => compose_error.set(Some(e.0)),
            Ok(body) => {
                compose_error.set(None);
                let client_id = new_client_id();
                let body = body.into_inner();
                pending.update(|p| {
                    p.push(Pending {
                        client_id: client_id.clone(),
                        body: body.clone(),
                        failed: None,
                    })
                });
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
        let Some(first) = messages.with_untracked(|m| m.keys().next().copied()) else {
            return;
        };
        loading_older.set(true);
        history_error.set(None);
        let before_height = log_ref.get_untracked().map(|el| el.scroll_height()).unwrap_or(0);
        leptos::task::spawn_local(async move {
            match older_messages(room.0, first).await {
                Ok(page) => {
                    messages.update(|m| m.extend(page.messages.into_iter().map(|msg| (msg.seq, msg))));
                    has_older.set(page.has_older);
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

    let items = Memo::new(move |_| {
        let mut out = Vec::new();
        let notices = notices.get();
        let mut notice_iter = notices.iter().peekable();
        messages.with(|m| {
            for message in m.values() {
                while let Some(n) = notice_iter.next_if(|n| n.after < message.seq) {
                    out.push(Item::Notice(n.clone()));
                }
                out.push(Item::Message(message.clone()));
            }
        });
        out.extend(notice_iter.cloned().map(Item::Notice));
        out.extend(pending.get().into_iter().map(Item::Pending));
        out
    });

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
                                            pending.update(|p| p.retain(|p| p.client_id != client_id));
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
            {move || (!has_older.get() && !messages.with(|m| m.is_empty())).then(|| view! {
                <p class="notice">"This is the start of the room."</p>
            })}
            {move || (messages.with(|m| m.is_empty()) && pending.with(|p| p.is_empty())).then(|| view! {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: Seq) -> ChatMessage {
        ChatMessage {
            id: seq,
            room: RoomId(1),
            seq,
            author: "a".into(),
            body: "b".into(),
            created_at: 0,
            client_id: format!("c{seq}"),
        }
    }

    #[test]
    fn catch_up_resumes_from_the_end_of_the_unbroken_run() {
        let mut m = BTreeMap::new();
        assert_eq!(contiguous_end(&m), 0);
        for s in [51, 52, 53, 55] {
            m.insert(s, msg(s));
        }
        assert_eq!(contiguous_end(&m), 53);
        m.insert(54, msg(54));
        assert_eq!(contiguous_end(&m), 55);
    }
}
