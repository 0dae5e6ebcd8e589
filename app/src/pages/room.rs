//! A room: server-rendered history, then live over the WebSocket.
//!
//! The chat state and its transitions live in [`crate::timeline`]; this page
//! holds one [`Timeline`], renders it, and does what it asks (send frames,
//! retry later, show errors), plus the browser's part: scrolling and the
//! stored outbox.

use super::chat::{Chat, Held, OpenRoom};
use super::files::{
    ImageViewer, UploadTray, Uploading, carries_files, chosen_files, dropped_files, human_size, open_file_picker,
    pasted_files, uploader,
};
use super::message::{MessageActions, MessageView, PickFor, quote_text};
use super::moderation::ModerationPanel;
use super::report::ReportDialog;
use super::sidebar::Sidebar;
use crate::api::{AddMember, RemoveMember, load_room, mention_candidates, older_messages, sidebar};
use crate::components::emoji_picker::EmojiPicker;
use crate::components::{FormError, LoadError, TopBar, error_message, modal_follows};
use crate::emoji;
use crate::live::ConnState;
use crate::mentions;
use crate::outbox;
use crate::protocol::{ApiError, Attachment, ClientFrame, Quote, RoomId, RoomPage, ServerFrame};
use crate::timeline::{FollowUp, Item, Timeline};
use crate::typing::{Notice, Notifier, Typists};
use crate::unread::Unread;
use crate::validate::{MESSAGE_MAX, MessageBody};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Every room's page. Moving from room to room changes only the id: this
/// stays, with its one connection and the sidebar, and each room's view
/// comes and goes below it.
#[component]
pub fn Room() -> impl IntoView {
    let chat = Chat::provide();
    let params = use_params_map();
    let query = use_query_map();
    let room_id = move || params.read().get("id").and_then(|id| id.parse::<i64>().ok());
    // `?message=ID`: opened at that message (a search result).
    let at = move || query.read().get("message").and_then(|id| id.parse::<i64>().ok());
    let page = Resource::new(
        move || (room_id(), at()),
        move |(id, at)| async move {
            match id {
                // A room visited before is opened as it was left, not fetched
                // (unless asked to open at a message).
                Some(id) => match chat.held_page(RoomId(id)).filter(|_| at.is_none()) {
                    Some(page) => Ok(page),
                    None => load_room(id, at).await,
                },
                None => Err(ApiError::room_not_found()),
            }
        },
    );
    let rooms = Resource::new(|| (), |_| sidebar());
    view! {
        // The room being left stays on screen while the next one loads.
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading room…"</p> }>
            {move || Suspend::new(async move {
                // Without its sidebar, a room is still worth showing.
                chat.sidebar_loaded(rooms.await.unwrap_or_default());
                match page.await {
                    Ok(page) => view! { <RoomView page/> }.into_any(),
                    Err(error) => view! { <Title text="Room"/><LoadError error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Brings message `id` into view and focuses it (the style marks it).
fn show_message(id: i64) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let found = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&format!("msg-{id}")));
        if let Some(el) = found {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Center);
            el.scroll_into_view_with_scroll_into_view_options(&options);
            if let Some(el) = el.dyn_ref::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}

/// Whether the page is in front of its reader: shown, and the window focused.
fn page_in_front() -> bool {
    #[cfg(feature = "hydrate")]
    {
        let document = document();
        document.visibility_state() == web_sys::VisibilityState::Visible && document.has_focus().unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// Now, in the browser's clock (the server renders with no clock at all).
fn now_ms() -> crate::protocol::Millis {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as crate::protocol::Millis
    }
    #[cfg(not(feature = "hydrate"))]
    0
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
    let chat = expect_context::<Chat>();
    // Kept for coming back to the room; its messages are the timeline's.
    let kept = RoomPage {
        messages: Vec::new(),
        focus: None,
        gap: None,
        ..page.clone()
    };
    // Opened at a message: the page fetched for it, not what was held.
    let held = chat.take_held(page.id).filter(|_| page.focus.is_none());
    if let Some(id) = page.focus {
        chat.focus_on(page.id, id);
    }
    let RoomPage {
        id: room,
        name,
        topic,
        messages: first_page,
        has_older,
        as_of,
        read_seq,
        me,
        private,
        direct,
        owner,
        moderator,
        archived,
        members,
        upload_bytes,
        focus: _,
        gap,
    } = page;
    let timeline = RwSignal::new(match held {
        Some(held) => held.timeline,
        None => Timeline::new(room, me.username.clone(), first_page, has_older, as_of).with_gap(gap),
    });
    // Where the reader had read to on coming in (the sidebar knows better
    // than a page held since an earlier visit), and where "New messages"
    // begins: found once the room has caught up, then left in place.
    let read_seq = chat
        .unread
        .with_untracked(|u| u.room(room).map(|r| r.read_seq))
        .unwrap_or(read_seq)
        .max(read_seq);
    let divider = RwSignal::new(timeline.with_untracked(|t| t.first_from_others_after(read_seq)));
    let divider_settled = StoredValue::new(false);
    // New messages that came while the reader was scrolled up.
    let unseen = RwSignal::new(0u32);
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
    // The message the next send answers.
    let replying = RwSignal::new(None::<Quote>);
    let reload_older = RwSignal::new(0u32);
    let history_error = RwSignal::new(None::<String>);
    let log_ref = NodeRef::<leptos::html::Div>::new();
    // Whether the log is scrolled to its end (or too short to scroll).
    let log_at_end = move || {
        log_ref
            .get_untracked()
            .is_some_and(|el| el.scroll_height() - el.scroll_top() - el.client_height() < 48)
    };
    let composer = NodeRef::<leptos::html::Textarea>::new();
    let editing = RwSignal::new(None::<i64>);
    let edit_draft = RwSignal::new(String::new());
    let deleting = RwSignal::new(None::<i64>);
    let reporting = RwSignal::new(None::<i64>);
    let picking = RwSignal::new(None::<PickFor>);
    // `:shortcode` and `@name` suggestions: what is offered, which is
    // chosen, and where the typed shortcode or name starts and ends in the
    // draft (bytes).
    let suggestions = RwSignal::new(Vec::<Offer>::new());
    let suggestion = RwSignal::new(0usize);
    let typed_at = RwSignal::new(None::<(usize, usize)>);
    // Files on their way up, the picture open in the viewer, and the room's pictures.
    let uploads = RwSignal::new(Vec::<Uploading>::new());
    let viewing = RwSignal::new(None::<String>);
    let images = Memo::new(move |_| timeline.with(Timeline::images));
    let dropping = RwSignal::new(false);
    // Whether the view follows new messages (false once the reader scrolls
    // up, or while "New messages" is shown first).
    let stick = StoredValue::new(divider.get_untracked().is_none());
    let me_name = me.username.clone();
    let me_admin = me.role == crate::protocol::SiteRole::Admin;

    let since = move || timeline.with_untracked(Timeline::contiguous_end);

    let restored = StoredValue::new(false);
    let send_frame = move |frame: ClientFrame| chat.live.send(frame);
    // Whether this room is joined on the connection now: the connection
    // may be up while the room (just opened) is not yet.
    let joined = RwSignal::new(false);
    let conn = chat.live.state;
    let state = Signal::derive(move || match conn.get() {
        live if live.is_live() && !joined.get() => ConnState::Connecting,
        other => other,
    });
    // A dropped connection left the room: it is joined again on the next.
    Effect::new(move |_| {
        if !conn.get().is_live() {
            joined.set(false);
        }
    });

    // Who is typing here, and when this page tells the room that its person is.
    let typists = RwSignal::new(Typists::default());
    let notifier = StoredValue::new(Notifier::default());
    let me_typing = me_name.clone();
    // Typing notices are for the people here; a message ends its author's.
    let on_typing = move |frame: &ServerFrame| match frame {
        ServerFrame::Typing { room: r, username, on } if *r == room && *username != me_typing => {
            typists.maybe_update(|t| t.notice(username, *on, now_ms()));
        }
        ServerFrame::Message { message } if message.room == room => {
            typists.maybe_update(|t| t.posted(&message.author));
        }
        _ => {}
    };
    let me_reading = me_name.clone();
    let on_frame = move |frame: ServerFrame| {
        on_typing(&frame);
        let (is_joined, is_catch_up) = (
            matches!(frame, ServerFrame::Joined { .. }),
            matches!(frame, ServerFrame::CatchUp { .. }),
        );
        if let ServerFrame::Message { message } = &frame
            && !stick.get_value()
            && message.author != me_reading
        {
            unseen.update(|n| *n += 1);
        }
        let follow_up = timeline.try_update(|t| t.apply(frame)).flatten();
        if is_catch_up && !divider_settled.get_value() {
            // What came while away is here: "New messages" goes above the first of it.
            divider_settled.set_value(true);
            if divider.get_untracked().is_none() {
                divider.set(timeline.with_untracked(|t| t.first_from_others_after(read_seq)));
            }
        }
        if is_joined {
            joined.set(true);
            for p in timeline.with_untracked(Timeline::unsent) {
                send_frame(p.send_frame(room));
            }
        }
        match follow_up {
            None => {}
            Some(FollowUp::CatchUp { since }) => send_frame(ClientFrame::CatchUp { room, since }),
            Some(FollowUp::ResendLater { client_id }) => set_timeout(
                move || {
                    // `try_`: the page may have been left within the two seconds.
                    if let Some(p) = timeline.try_with_untracked(|t| t.resendable(&client_id)).flatten() {
                        send_frame(p.send_frame(room));
                    }
                },
                std::time::Duration::from_secs(2),
            ),
            Some(FollowUp::ShowError(message)) => compose_error.set(Some(message)),
            Some(FollowUp::ReloadOlder) => reload_older.update(|n| *n += 1),
        }
    };

    chat.open(
        &me_name,
        OpenRoom {
            room,
            since: Box::new(since),
            on_frame: Box::new(on_frame),
        },
    );
    on_cleanup(move || {
        if let Some(timeline) = timeline.try_get_untracked() {
            chat.close(
                room,
                Held {
                    page: kept.clone(),
                    timeline,
                },
            );
        }
    });

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
                        send_frame(p.send_frame(room));
                    }
                }
            }
        }
        // Saved after a restore too, even when nothing came back: the stored
        // copy of what had landed meanwhile goes.
        outbox::save(room, &me_for_outbox, &timeline.with_untracked(|t| t.pending().to_vec()));
    });

    // The room hears that this person types (only while connected: a
    // notice sent late would be wrong), and stops.
    let tell_typing = move |notice: Option<Notice>| {
        if let Some(notice) = notice
            && state.get_untracked().is_live()
        {
            send_frame(ClientFrame::Typing {
                room,
                on: notice == Notice::Typing,
            });
        }
    };
    Effect::new(move |first: Option<()>| {
        let empty = draft.with(|d| d.trim().is_empty());
        // Not the draft as the page opened with it: nobody typed that.
        if first.is_some() {
            tell_typing(notifier.try_update_value(|n| n.edited(empty, now_ms())).flatten());
        }
    });
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // Each second: typists gone quiet expire here, and this person's
        // idle keys become "stopped" for the room.
        let ticking = set_interval_with_handle(
            move || {
                let now = now_ms();
                typists.maybe_update(|t| t.expire(now));
                tell_typing(notifier.try_update_value(|n| n.tick(now)).flatten());
            },
            std::time::Duration::from_secs(1),
        );
        if let Ok(handle) = ticking {
            on_cleanup(move || handle.clear());
        }
    });

    // Posts `body` (and a file) as an answer to the message being replied
    // to, if any: shown at once as pending, and sent.
    let post = move |body: String, file: Option<Attachment>| {
        // The message itself ends the typing notice, everywhere.
        notifier.update_value(Notifier::sent);
        let client_id = new_client_id();
        let quote = replying.get_untracked();
        let reply_to = quote.as_ref().map(|q| q.id);
        let attachment = file.as_ref().map(|f| f.id.clone());
        timeline.update(|t| t.queue_pending(client_id.clone(), body.clone(), quote, file));
        replying.set(None);
        stick.set_value(true);
        send_frame(ClientFrame::Send {
            room,
            client_id,
            body,
            reply_to,
            attachment,
        });
    };
    let send = move || {
        let text = draft.get_untracked();
        match MessageBody::parse(&text) {
            Err(e) => compose_error.set(Some(e.0)),
            Ok(body) => {
                compose_error.set(None);
                draft.set(String::new());
                post(body.into_inner(), None);
            }
        }
    };

    // An edit, deletion or reaction: refused at once when offline (it is
    // not kept for later, unlike a message), else sent with its own client id.
    let send_change = move |frame: Box<dyn FnOnce(String) -> ClientFrame>| {
        if !state.get_untracked().is_live() {
            compose_error.set(Some("Not connected: try again once the connection is back.".into()));
            return;
        }
        let client_id = new_client_id();
        timeline.update(|t| t.changing(client_id.clone()));
        send_frame(frame(client_id));
    };
    let focus_composer = move || {
        if let Some(el) = composer.get_untracked() {
            let _ = el.focus();
        }
    };
    // One older page: fetched and added, or the reason it failed shown.
    // Returns whether a page came.
    let fetch_older = move || async move {
        let Some(first) = timeline.with_untracked(Timeline::first_seq) else {
            return false;
        };
        loading_older.set(true);
        history_error.set(None);
        let loaded = match older_messages(room.0, first).await {
            Ok(page) => {
                let again = timeline
                    .try_update(|t| t.older_page_loaded(page.messages, page.has_older, page.as_of))
                    .flatten();
                if again.is_some() {
                    // Too many changes came meanwhile: ask for the page again.
                    reload_older.update(|n| *n += 1);
                }
                again.is_none()
            }
            Err(e) => {
                history_error.set(Some(e.message));
                false
            }
        };
        loading_older.set(false);
        loaded
    };

    // The messages between those around a message the room was opened at
    // and the newest: a page at a time, on asking.
    let loading_gap = RwSignal::new(false);
    let load_gap = move |_| {
        let Some(end) = timeline.with_untracked(Timeline::gap_end) else {
            return;
        };
        if loading_gap.get_untracked() {
            return;
        }
        loading_gap.set(true);
        history_error.set(None);
        leptos::task::spawn_local(async move {
            match older_messages(room.0, end).await {
                Ok(page) => {
                    // Too many changes came meanwhile: the button asks again.
                    let _ = timeline.try_update(|t| t.gap_page_loaded(page.messages, page.has_older, page.as_of));
                }
                // The page may have gone meanwhile (another room opened).
                Err(e) => {
                    let _ = history_error.try_set(Some(e.message));
                }
            }
            let _ = loading_gap.try_set(false);
        });
    };

    let load_older = move || {
        if loading_older.get_untracked() || !has_older.get_untracked() {
            return;
        }
        let before_height = log_ref.get_untracked().map(|el| el.scroll_height()).unwrap_or(0);
        leptos::task::spawn_local(async move {
            if fetch_older().await {
                // Keep the reader's place: the log grew above them.
                request_animation_frame(move || {
                    if let Some(el) = log_ref.get_untracked() {
                        el.set_scroll_top(el.scroll_top() + el.scroll_height() - before_height);
                    }
                });
            }
        });
    };

    // The reader has seen the room's newest messages when the page is in
    // front of them (visible, focused) and scrolled to the end: then the read
    // marker moves there, at most twice a second.
    let read_sent = StoredValue::new(read_seq);
    let read_due = StoredValue::new(false);
    let looking = move || stick.get_value() && page_in_front();
    let note_reading = move || {
        let yes = looking();
        chat.seeing(room, yes);
        if !yes || read_due.get_value() || !state.get_untracked().is_live() {
            return;
        }
        read_due.set_value(true);
        set_timeout(
            move || {
                // Gone (the room was left meanwhile): nothing to read.
                if read_due.try_update_value(|due| *due = false).is_none() || !looking() {
                    return;
                }
                let seq = timeline.with_untracked(Timeline::contiguous_end);
                if seq > read_sent.get_value() {
                    read_sent.set_value(seq);
                    chat.read(room, seq);
                }
            },
            std::time::Duration::from_millis(500),
        );
    };
    let at_end = move || {
        stick.set_value(true);
        unseen.set(0);
        note_reading();
    };
    // Leaving while a read was due: it is sent now, not lost with the page.
    on_cleanup(move || {
        if read_due.try_get_value() == Some(true)
            && stick.try_get_value() == Some(true)
            && let (Some(seq), Some(sent)) = (
                timeline.try_with_untracked(Timeline::contiguous_end),
                read_sent.try_get_value(),
            )
            && seq > sent
        {
            chat.read(room, seq);
        }
    });

    // Activating a quote: the original, brought into view and focused,
    // after loading older pages until it is here (or the room's start).
    let jump = move |id: i64, gone: &'static str| {
        leptos::task::spawn_local(async move {
            while timeline.with_untracked(|t| t.message(id).is_none() && t.has_older()) {
                if loading_older.get_untracked() || !fetch_older().await {
                    break;
                }
            }
            if timeline.with_untracked(|t| t.message(id).is_none()) {
                history_error.set(Some(gone.into()));
                return;
            }
            // Not followed to the end from here: the view stays on it…
            stick.set_value(false);
            request_animation_frame(move || {
                // Again: a scroll to the end since (the page's first, whose
                // scroll event came late) may have set it following.
                stick.set_value(false);
                show_message(id);
                // …unless it is at the end, where all is seen.
                if log_at_end() {
                    at_end();
                }
            });
        });
    };
    // A notification activated: its message, once this room has it.
    Effect::new(move |_| {
        if joined.get()
            && let Some(id) = chat.take_focus(room)
        {
            jump(id, "That message is no longer here.");
        }
    });

    let actions = MessageActions {
        me: StoredValue::new(me_name.clone()),
        moderator,
        editing,
        edit_draft,
        replying,
        deleting,
        reporting,
        picking,
        react: Callback::new(move |(message, emoji, on): (i64, String, bool)| {
            send_change(Box::new(move |client_id| ClientFrame::React {
                room,
                client_id,
                message,
                emoji,
                on,
            }))
        }),
        save_edit: Callback::new(move |(message, text): (i64, String)| {
            let unchanged = timeline.with_untracked(|t| t.message(message).is_some_and(|m| m.body == text));
            if unchanged {
                editing.set(None);
                focus_composer();
                return;
            }
            match MessageBody::parse(&text) {
                Err(e) => compose_error.set(Some(e.0)),
                Ok(body) => {
                    compose_error.set(None);
                    editing.set(None);
                    send_change(Box::new(move |client_id| ClientFrame::Edit {
                        room,
                        client_id,
                        message,
                        body: body.into_inner(),
                    }));
                    focus_composer();
                }
            }
        }),
        jump: Callback::new(move |quote: Quote| jump(quote.id, "The original message is no longer here.")),
        focus_composer: Callback::new(move |()| focus_composer()),
        open_image: Callback::new(move |id: String| viewing.set(Some(id))),
    };

    // A finished upload becomes a message at once, carrying `caption` (the
    // composer's text when it was attached, which then leaves the composer).
    let post_file = move |file: Attachment, caption: String| {
        if !caption.is_empty() && draft.get_untracked() == caption {
            draft.set(String::new());
        }
        post(caption, Some(file));
    };
    let (attach, cancel_upload) = uploader(uploads, upload_bytes, draft, post_file);

    Effect::new(move |previous: Option<u32>| {
        let now = reload_older.get();
        if previous.is_some_and(|p| p != now) {
            load_older();
        }
        now
    });

    let scroll_to_end = move || {
        if let Some(el) = log_ref.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };

    // Follow the conversation unless the reader scrolled up.
    Effect::new(move |_| {
        items.track();
        joined.track();
        if stick.get_value() {
            request_animation_frame(move || {
                scroll_to_end();
                note_reading();
            });
        }
    });
    // Coming in to unread messages: "New messages" is shown first.
    Effect::new(move |shown: Option<bool>| {
        let shown = shown.unwrap_or(false);
        if shown || divider.get().is_none() {
            return shown;
        }
        request_animation_frame(move || {
            let found = document().get_element_by_id("new-messages");
            if let Some(el) = found {
                el.scroll_into_view_with_bool(true);
            }
            // All of it fits: it is all seen.
            if log_at_end() {
                at_end();
            }
        });
        true
    });
    #[cfg(feature = "hydrate")]
    {
        let on_focus = window_event_listener(leptos::ev::focus, move |_| note_reading());
        let on_blur = window_event_listener(leptos::ev::blur, move |_| chat.seeing(room, false));
        let on_visible = window_event_listener(leptos::ev::visibilitychange, move |_| note_reading());
        on_cleanup(move || {
            on_focus.remove();
            on_blur.remove();
            on_visible.remove();
        });
    }

    let on_scroll = move |_| {
        if let Some(el) = log_ref.get_untracked() {
            let end = log_at_end();
            stick.set_value(end);
            if end {
                at_end();
            } else {
                chat.seeing(room, false);
            }
            if el.scroll_top() < 4 {
                load_older();
            }
        }
    };
    let jump_to_latest = move |_| {
        scroll_to_end();
        at_end();
        focus_composer();
    };

    let render_item = {
        let me_name = me_name.clone();
        move |item: Item| -> AnyView {
            match item {
                Item::Message(m) => {
                    // The element stays while the message changes: it reads
                    // the message as it is now.
                    let seq = m.seq;
                    let message = Memo::new(move |_| {
                        timeline
                            .with(|t| t.message_at(seq).cloned())
                            .unwrap_or_else(|| m.clone())
                    });
                    view! {
                        {move || (divider.get() == Some(seq)).then(|| view! {
                            <p class="new-messages" id="new-messages" role="separator"><span>"New messages"</span></p>
                        })}
                        <MessageView message actions/>
                    }
                    .into_any()
                }
                Item::Notice(n) => view! { <p class="notice">{n.text}</p> }.into_any(),
                Item::Gap => view! {
                    <p class="gap">
                        <button type="button" class="ghost" on:click=load_gap disabled=move || loading_gap.get()>
                            {move || if loading_gap.get() { "Loading…" } else { "Load messages in between" }}
                        </button>
                    </p>
                }
                .into_any(),
                Item::Pending(p) => {
                    let client_id = p.client_id.clone();
                    let failed = p.failed.clone();
                    let is_failed = failed.is_some();
                    let jumbo = emoji::is_jumbo(&p.body);
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
                            {p.reply_to.map(|q| view! {
                                <p class="quote"><span class="quote-author">{q.author.clone()}</span>
                                    <span class="quote-text">{quote_text(&q)}</span></p>
                            })}
                            {(!p.body.is_empty()).then(|| view! { <p class="body" class:jumbo=jumbo>{p.body.clone()}</p> })}
                            {p.attachment.map(|file| view! {
                                <p class="pending-file">{format!("📎 {} ({})", file.name, human_size(file.size))}</p>
                            })}
                        </article>
                    }
                    .into_any()
                }
            }
        }
    };

    // Muted here: no notifications, no bold in the sidebar.
    let quiet = Memo::new(move |_| chat.unread.with(|u| u.room(room).is_some_and(|r| r.quiet)));
    // Built as separate erased views: one nested type for the whole page
    // would exceed the compiler's type-depth limit.
    let head = view! {
        <div class="room-head">
            <button type="button" class="ghost rooms-toggle" aria-controls="sidebar"
                aria-expanded=move || chat.drawer.get().to_string()
                on:click=move |_| chat.drawer.update(|open| *open = !*open)>
                "Rooms"
                {move || {
                    let n = chat.unread.with(Unread::total);
                    (n > 0).then(|| view! { <span class="badge" aria-hidden="true">{n}</span> })
                }}
            </button>
            <div class="room-title">
                <h1>{name.clone()}</h1>
                {(!topic.is_empty()).then(|| view! { <p class="topic">{topic}</p> })}
            </div>
            <button type="button" class="ghost small mute" aria-pressed=move || quiet.get().to_string()
                title=move || if quiet.get() { "Notifications from this room are off" } else { "Notifications from this room are on" }
                on:click=move |_| {
                    let mute = !quiet.get_untracked();
                    leptos::task::spawn_local(async move {
                        if let Err(why) = chat.mute(room, mute).await {
                            compose_error.set(Some(why));
                        }
                    });
                }>
                <span aria-hidden="true">{move || if quiet.get() { "🔕 " } else { "🔔 " }}</span>
                "Mute room"
            </button>
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
        {move || (unseen.get() > 0).then(|| view! {
            <button type="button" class="jump-latest" on:click=jump_to_latest>
                "Jump to latest"
                <span class="badge" aria-hidden="true">{unseen.get()}</span>
            </button>
        })}
    }
    .into_any();

    // `:shortcode` and `@name` suggestions follow the caret while typing.
    // The room's people come from the server (it knows them all); an answer
    // that comes back after the text moved on is dropped.
    let me_for_mentions = me_name.clone();
    let suggest = move || {
        let Some(el) = composer.get_untracked() else { return };
        let text = el.value();
        let caret = emoji::byte_offset(&text, el.selection_start().ok().flatten().unwrap_or(0) as usize);
        if let Some((start, typed)) = emoji::shortcode_at(&text, caret) {
            let offers = emoji::suggestions(typed, 6)
                .into_iter()
                .map(|(code, emoji)| Offer::Emoji { code, emoji })
                .collect();
            suggestions.set(offers);
            suggestion.set(0);
            typed_at.set(Some((start, caret)));
        } else if let Some((start, typed)) = mentions::typed_at(&text, caret) {
            typed_at.set(Some((start, caret)));
            let (typed, me) = (typed.to_owned(), me_for_mentions.clone());
            leptos::task::spawn_local(async move {
                let Ok(people) = mention_candidates(room.0, typed).await else {
                    return;
                };
                if typed_at.try_get_untracked().flatten() != Some((start, caret)) {
                    return;
                }
                let offers = people.into_iter().filter(|p| *p != me).map(Offer::Person).collect();
                suggestions.set(offers);
                suggestion.set(0);
            });
        } else {
            suggestions.set(Vec::new());
            typed_at.set(None);
        }
    };
    // Puts `text` into the draft in place of `start..end` (bytes), and the caret after it.
    let insert = move |start: usize, end: usize, text: &str| {
        let mut next = draft.get_untracked();
        if start > end || end > next.len() || !next.is_char_boundary(start) || !next.is_char_boundary(end) {
            return;
        }
        next.replace_range(start..end, text);
        let caret = emoji::utf16_len(&next[..start + text.len()]) as u32;
        draft.set(next);
        suggestions.set(Vec::new());
        typed_at.set(None);
        request_animation_frame(move || {
            if let Some(el) = composer.get_untracked() {
                let _ = el.focus();
                let _ = el.set_selection_range(caret, caret);
            }
        });
    };
    let take_suggestion = move |i: usize| {
        let chosen = suggestions.with_untracked(|s| s.get(i).map(Offer::inserted));
        if let (Some(text), Some((start, end))) = (chosen, typed_at.get_untracked()) {
            insert(start, end, &text);
        }
    };
    let on_compose_key = move |ev: leptos::ev::KeyboardEvent| {
        let offered = suggestions.with_untracked(Vec::len);
        if ev.is_composing() {
            return;
        }
        match ev.key().as_str() {
            "ArrowDown" | "ArrowUp" if offered > 0 => {
                ev.prevent_default();
                let step = if ev.key() == "ArrowDown" { 1 } else { offered - 1 };
                suggestion.update(|i| *i = (*i + step) % offered);
            }
            "Enter" | "Tab" if offered > 0 && !ev.shift_key() => {
                ev.prevent_default();
                take_suggestion(suggestion.get_untracked());
            }
            "Escape" if offered > 0 => {
                ev.prevent_default();
                suggestions.set(Vec::new());
            }
            "Escape" if replying.with_untracked(Option::is_some) => {
                ev.prevent_default();
                replying.set(None);
            }
            // Enter sends; Shift+Enter (or composing CJK text) makes a new line.
            "Enter" if !ev.shift_key() => {
                ev.prevent_default();
                send();
            }
            // Slack's habit: ArrowUp in an empty composer edits your last message.
            "ArrowUp" if draft.with_untracked(String::is_empty) => {
                if let Some((id, body)) =
                    timeline.with_untracked(|t| t.my_last_message().map(|m| (m.id, m.body.clone())))
                {
                    ev.prevent_default();
                    edit_draft.set(body);
                    editing.set(Some(id));
                }
            }
            _ => {}
        }
    };

    let file_input = NodeRef::<leptos::html::Input>::new();
    let compose = view! {
        <form class="compose" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <UploadTray uploads cancel=cancel_upload/>
            {move || replying.get().map(|q| view! {
                <div class="replying">
                    <span class="replying-to">"Replying to "<strong>{q.author.clone()}</strong></span>
                    <span class="quote-text">{quote_text(&q)}</span>
                    <button type="button" class="ghost small" aria-label="Cancel reply" title="Cancel reply"
                        on:click=move |_| { replying.set(None); focus_composer(); }>"✕"</button>
                </div>
            })}
            {move || (!suggestions.with(Vec::is_empty)).then(|| view! {
                <ul class="suggestions" id="composer-suggestions" role="listbox"
                    aria-label=move || suggestions.with(|s| match s.first() {
                        Some(Offer::Person(_)) => "People",
                        _ => "Emoji suggestions",
                    })>
                    {suggestions.get().into_iter().enumerate().map(|(i, offer)| view! {
                        <li role="option" id=format!("composer-suggestion-{i}")
                            aria-selected=move || (suggestion.get() == i).to_string()
                            on:mousedown=move |ev| { ev.prevent_default(); take_suggestion(i); }>
                            {offer.view()}
                        </li>
                    }).collect_view()}
                </ul>
            })}
            <label for="message" class="visually-hidden">"Message"</label>
            <textarea id="message" name="message" rows="2" placeholder="Write a message…"
                maxlength=MESSAGE_MAX node_ref=composer
                prop:value=move || draft.get()
                aria-autocomplete="list"
                aria-controls=move || (!suggestions.with(Vec::is_empty)).then_some("composer-suggestions")
                aria-activedescendant=move || (!suggestions.with(Vec::is_empty)).then(|| format!("composer-suggestion-{}", suggestion.get()))
                on:input=move |ev| { draft.set(event_target_value(&ev)); compose_error.set(None); suggest(); }
                on:keydown=on_compose_key
                on:paste=move |ev: leptos::ev::ClipboardEvent| {
                    let files = pasted_files(&ev);
                    if !files.is_empty() { ev.prevent_default(); attach.run(files); }
                }
                on:blur=move |_| { suggestions.set(Vec::new()); typed_at.set(None); }
                aria-describedby="compose-error"
            ></textarea>
            <div class="compose-buttons">
                <input type="file" multiple class="visually-hidden" id="attach-input" tabindex="-1"
                    aria-hidden="true" node_ref=file_input
                    on:change=move |_| attach.run(chosen_files(file_input))/>
                <button type="button" class="ghost attach-button" aria-label="Attach files" title="Attach files"
                    on:click=move |_| open_file_picker(file_input)>
                    <span aria-hidden="true">"📎"</span>
                </button>
                <button type="button" class="ghost emoji-button" aria-label="Emoji" title="Emoji"
                    on:click=move |_| picking.set(Some(PickFor::Composer))>
                    <span aria-hidden="true">"😊"</span>
                </button>
                <button type="submit">"Send"</button>
            </div>
            <p id="compose-error" class="error" role="alert">{move || compose_error.get()}</p>
        </form>
    }
    .into_any();

    // The emoji picker, for the composer or a reaction.
    let picked = move |emoji: String| match picking.get_untracked() {
        Some(PickFor::Composer) => {
            let (start, end) = composer
                .get_untracked()
                .map(|el| {
                    let text = el.value();
                    let at = |n: Option<u32>| emoji::byte_offset(&text, n.unwrap_or(0) as usize);
                    (
                        at(el.selection_start().ok().flatten()),
                        at(el.selection_end().ok().flatten()),
                    )
                })
                .unwrap_or_else(|| {
                    let end = draft.with_untracked(String::len);
                    (end, end)
                });
            insert(start, end, &emoji);
        }
        Some(PickFor::Reaction(message)) => actions.react.run((message, emoji, true)),
        None => {}
    };
    let picker = view! {
        <EmojiPicker open=Signal::derive(move || picking.get().is_some())
            on_pick=picked on_close=move |()| picking.set(None)/>
    }
    .into_any();

    // Deleting asks first, in a modal dialog.
    let delete_dialog = NodeRef::<leptos::html::Dialog>::new();
    modal_follows(delete_dialog, move || deleting.get().is_some());
    let confirm_delete = move |_| {
        if let Some(message) = deleting.get_untracked() {
            deleting.set(None);
            send_change(Box::new(move |client_id| ClientFrame::Delete {
                room,
                client_id,
                message,
            }));
        }
    };
    let delete_confirm = view! {
        <dialog class="confirm" aria-labelledby="delete-title" aria-describedby="delete-help"
            node_ref=delete_dialog on:close=move |_| deleting.set(None)>
            <h2 id="delete-title">"Delete this message?"</h2>
            <p id="delete-help">"Everyone will see “This message was deleted.” in its place. This cannot be undone."</p>
            <div class="dialog-actions">
                <button type="button" class="ghost" on:click=move |_| deleting.set(None)>"Cancel"</button>
                <button type="button" class="danger" on:click=confirm_delete>"Delete message"</button>
            </div>
        </dialog>
    }
    .into_any();

    let me_for_members = me_name.clone();
    // A direct conversation's two people are fixed: nobody manages them.
    let owner = owner && !direct;
    let members_panel = private.then(|| view! { <Members room members owner direct me=me_for_members/> }.into_any());
    let moderation_panel = (moderator && !direct).then(|| view! { <ModerationPanel room owner private/> }.into_any());

    let people = view! {
        <aside class="people" aria-labelledby="online-heading">
            <h2 id="online-heading">{move || format!("Online ({})", online.with(Vec::len))}</h2>
            <ul aria-label="Online">
                <For each=move || online.get() key=|name| name.clone() let:name>
                    <li>{name}</li>
                </For>
            </ul>
            {members_panel}
            {moderation_panel}
        </aside>
    }
    .into_any();

    // Files can be dropped anywhere on the conversation.
    let conversation = view! {
        <section class="chat" class:dropping=move || dropping.get()
            on:dragover=move |ev: leptos::ev::DragEvent| {
                if carries_files(&ev) { ev.prevent_default(); dropping.set(true); }
            }
            on:dragleave=move |_| dropping.set(false)
            on:drop=move |ev: leptos::ev::DragEvent| {
                dropping.set(false);
                let files = dropped_files(&ev);
                if !files.is_empty() { ev.prevent_default(); attach.run(files); }
            }>
            {log}
            // Polite: read out when the reader is idle, never taking focus.
            <p class="typing" aria-live="polite">{move || typists.with(Typists::label)}</p>
            {if archived {
                view! {
                    <p class="archived-notice" role="note">
                        "This room is archived: you can read it, but nothing can be posted in it."
                    </p>
                }
                .into_any()
            } else {
                compose
            }}
        </section>
    }
    .into_any();
    let viewer = view! { <ImageViewer viewing images/> }.into_any();

    // The tab says how much is unread everywhere: "(3) Design review · Natter".
    let titled = move |unread: u32| match unread {
        0 => name.clone(),
        n => format!("({n}) {name}"),
    };
    // The server reads the title after the page's reactive values are gone
    // (to write `<title>`): it gets the count as the page was rendered.
    #[cfg(feature = "ssr")]
    let title = {
        let unread = chat.unread.with_untracked(Unread::total);
        move || titled(unread)
    };
    #[cfg(not(feature = "ssr"))]
    let title = move || titled(chat.unread.with(Unread::total));
    view! {
        <Title text=title/>
        <TopBar username=me_name.clone() admin=me_admin/>
        <main class="page room">
            {head}
            <div class="room-body">
                <Sidebar/>
                {conversation}
                {people}
            </div>
            {picker}
            {delete_confirm}
            <ReportDialog room reporting/>
            {viewer}
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

/// Something offered while typing in the composer: an emoji for a
/// `:shortcode`, or one of the room's people for an `@`.
#[derive(Clone, Debug, PartialEq)]
enum Offer {
    Emoji {
        code: &'static str,
        emoji: &'static emoji::Emoji,
    },
    Person(String),
}

impl Offer {
    /// What taking it puts in place of what was typed.
    fn inserted(&self) -> String {
        match self {
            Offer::Emoji { emoji, .. } => emoji.as_str().to_owned(),
            // The space ends the mention, ready for the next word.
            Offer::Person(name) => format!("@{name} "),
        }
    }

    fn view(self) -> AnyView {
        match self {
            Offer::Emoji { code, emoji } => view! {
                <span class="suggestion-emoji">{emoji.as_str()}</span>
                <span class="suggestion-code">{format!(":{code}:")}</span>
                <span class="visually-hidden">{format!(" {}", emoji.name())}</span>
            }
            .into_any(),
            Offer::Person(name) => view! { <span class="suggestion-person">{format!("@{name}")}</span> }.into_any(),
        }
    }
}
