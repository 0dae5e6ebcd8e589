//! What the room pages share while someone moves from room to room without
//! reloading: the one WebSocket, the sidebar's rooms and their unread
//! counts, and the rooms already loaded (their history is not fetched again).
//!
//! The open room's page registers itself ([`Chat::open`]) and gets the
//! frames of its room; the sidebar's counts take every room's.

use crate::live::{self, Handlers, Live};
use crate::protocol::{ChatMessage, ClientFrame, RoomId, RoomPage, Seq, ServerFrame, SidebarRoom};
use crate::timeline::Timeline;
use crate::unread::{Recount, Unread};
use leptos::prelude::*;

/// Rooms kept loaded after they are left, the most recently left first.
const HELD_ROOMS: usize = 20;

/// The open room's part in the connection.
pub struct OpenRoom {
    pub room: RoomId,
    /// Where its page would resume from.
    pub since: Box<dyn Fn() -> Seq + Send + Sync>,
    /// Each frame for this room (and each error, which names none).
    pub on_frame: Box<dyn Fn(ServerFrame) + Send + Sync>,
}

/// A room left, as its page left it.
#[derive(Clone)]
pub struct Held {
    /// The page it was opened with, less its messages (the timeline has them).
    pub page: RoomPage,
    pub timeline: Timeline,
}

#[derive(Clone, Copy)]
pub struct Chat {
    pub live: Live,
    pub unread: RwSignal<Unread>,
    /// Whether the sidebar's list has come.
    sidebar_loaded: StoredValue<bool>,
    /// Bumped when the counts must be asked for again.
    recount: RwSignal<u32>,
    /// Whether the next recount also follows rooms new to the list.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    rewatch: StoredValue<bool>,
    open: StoredValue<Option<OpenRoom>>,
    held: StoredValue<Vec<(RoomId, Held)>>,
    /// Who is reading (set by the open room's page).
    me: StoredValue<String>,
    /// The open room, while its reader is looking at its newest messages:
    /// what arrives there is read as it comes.
    seeing: StoredValue<Option<RoomId>>,
    /// The sidebar shown over the page (phones).
    pub drawer: RwSignal<bool>,
    /// Whether notifications are on (see [`super::notify`]).
    pub notifying: RwSignal<bool>,
    /// A message to bring into view, in its room (a notification's).
    focus: RwSignal<Option<(RoomId, i64)>>,
}

impl Chat {
    /// Opens the connection for the pages below and provides them with it.
    pub fn provide() -> Chat {
        let unread = RwSignal::new(Unread::default());
        let recount = RwSignal::new(0u32);
        let rewatch = StoredValue::new(false);
        let open = StoredValue::new(None::<OpenRoom>);
        let me = StoredValue::new(String::new());
        let seeing = StoredValue::new(None::<RoomId>);
        let notifying = RwSignal::new(false);
        let focus = RwSignal::new(None::<(RoomId, i64)>);
        let navigate = leptos_router::hooks::use_navigate();
        // A mention or direct message raises a notification (see `notify_of`).
        let alert = move |message: &ChatMessage| {
            if !notifying.get_untracked() {
                return;
            }
            let here = !super::notify::page_hidden()
                && open.try_with_value(|o| o.as_ref().map(|o| o.room)).flatten() == Some(message.room);
            let Some(Some(room)) = me.try_with_value(|me| {
                unread.with_untracked(|u| {
                    u.notifies(message, me, here)
                        .then(|| u.room(message.room).cloned())
                        .flatten()
                })
            }) else {
                return;
            };
            let (title, body) = super::notify::text(
                &message.author,
                &room.name,
                room.direct,
                &message.body,
                message.attachment.is_some(),
            );
            let (id, navigate) = (message.id, navigate.clone());
            super::notify::show(&title, &body, &format!("natter-room-{}", room.id), move || {
                focus.set(Some((room.id, id)));
                navigate(&format!("/rooms/{}", room.id), Default::default());
            });
        };
        let live = live::connect(Handlers {
            open_room: Box::new(move || {
                open.try_with_value(|o| o.as_ref().map(|o| (o.room, (o.since)())))
                    .flatten()
            }),
            on_frame: Box::new(move |frame| {
                if let ServerFrame::Message { message } = &frame {
                    alert(message);
                }
                count(frame.clone(), unread, (recount, rewatch), me, seeing);
                let target = frame.room();
                open.try_with_value(|o| {
                    if let Some(o) = o
                        && target.is_none_or(|r| r == o.room)
                    {
                        (o.on_frame)(frame)
                    }
                });
            }),
        });
        let chat = Chat {
            live,
            unread,
            sidebar_loaded: StoredValue::new(false),
            recount,
            rewatch,
            open,
            held: StoredValue::new(Vec::new()),
            me,
            seeing,
            drawer: RwSignal::new(false),
            notifying,
            focus,
        };
        // In the browser only, after hydration: the server cannot know.
        Effect::new(move |_| notifying.set(super::notify::enabled()));
        chat.recount_when_asked();
        provide_context(chat);
        chat
    }

    /// The sidebar's list as the server counted it, taken once: later it is
    /// kept current by frames and recounts.
    pub fn sidebar_loaded(&self, rooms: Vec<SidebarRoom>) {
        if !self.sidebar_loaded.get_value() {
            self.sidebar_loaded.set_value(true);
            self.unread.set(Unread::new(rooms));
        }
    }

    #[cfg(feature = "hydrate")]
    fn recount_when_asked(&self) {
        let (recount, rewatch, unread, live) = (self.recount, self.rewatch, self.unread, self.live);
        // Several asks while one recount is on its way make one more after it.
        let busy = StoredValue::new(false);
        let again = StoredValue::new(false);
        fn run(
            unread: RwSignal<Unread>,
            live: Live,
            rewatch: StoredValue<bool>,
            busy: StoredValue<bool>,
            again: StoredValue<bool>,
        ) {
            if busy.get_value() {
                again.set_value(true);
                return;
            }
            busy.set_value(true);
            leptos::task::spawn_local(async move {
                if let Ok(rooms) = crate::api::sidebar().await {
                    unread.try_set(Unread::new(rooms));
                }
                // Rooms new to the list are followed from now on.
                if rewatch.try_update_value(std::mem::take) == Some(true) {
                    live.send(ClientFrame::Watch);
                }
                busy.try_set_value(false);
                if again.try_get_value() == Some(true) {
                    again.set_value(false);
                    run(unread, live, rewatch, busy, again);
                }
            });
        }
        Effect::new(move |previous: Option<u32>| {
            let now = recount.get();
            if previous.is_some() {
                run(unread, live, rewatch, busy, again);
            }
            now
        });
    }

    #[cfg(not(feature = "hydrate"))]
    fn recount_when_asked(&self) {}

    /// The page of `room` if it is held: opening it again fetches nothing.
    pub fn held_page(&self, room: RoomId) -> Option<RoomPage> {
        self.held
            .try_with_value(|held| held.iter().find(|(r, _)| *r == room).map(|(_, h)| h.page.clone()))
            .flatten()
    }

    /// Takes what is held of `room`, to open it again.
    pub fn take_held(&self, room: RoomId) -> Option<Held> {
        self.held
            .try_update_value(|held| {
                let at = held.iter().position(|(r, _)| *r == room)?;
                Some(held.remove(at).1)
            })
            .flatten()
    }

    /// `room`'s page is open: its frames go to it, and it is joined now if
    /// the connection is up (else as soon as it is).
    pub fn open(&self, me: &str, open: OpenRoom) {
        self.me.set_value(me.to_owned());
        let (room, since) = (open.room, (open.since)());
        self.open.set_value(Some(open));
        if self.live.state.get_untracked().is_live() {
            self.live.send(ClientFrame::Join { room, since });
        }
    }

    /// `room`'s page closed: its frames stop (unless another room's page has
    /// opened since), and what it held is kept for coming back.
    pub fn close(&self, room: RoomId, held: Held) {
        let _ = self.open.try_update_value(|open| {
            if open.as_ref().is_some_and(|o| o.room == room) {
                *open = None;
            }
        });
        let _ = self.seeing.try_update_value(|s| {
            if *s == Some(room) {
                *s = None;
            }
        });
        self.live.send(ClientFrame::Leave { room });
        let _ = self.held.try_update_value(|all| {
            all.retain(|(r, _)| *r != room);
            all.insert(0, (room, held));
            all.truncate(HELD_ROOMS);
        });
    }

    /// The message a notification asked to show in `room`, once (tracked:
    /// a page asks again when a notification is activated).
    pub fn take_focus(&self, room: RoomId) -> Option<i64> {
        let (r, id) = self.focus.get()?;
        if r != room {
            return None;
        }
        self.focus.set(None);
        Some(id)
    }

    /// Shows message `id` when `room`'s page has it (see [`Chat::take_focus`]).
    pub fn focus_on(&self, room: RoomId, id: i64) {
        self.focus.set(Some((room, id)));
    }

    /// Mutes (or unmutes) `room`'s notifications, on the server and here.
    pub async fn mute(&self, room: RoomId, quiet: bool) -> Result<(), String> {
        crate::api::mute_room(room.0, quiet).await.map_err(|e| e.message)?;
        self.unread.try_update(|u| u.set_quiet(room, quiet));
        Ok(())
    }

    /// Whether the reader is looking at `room`'s newest messages now.
    pub fn seeing(&self, room: RoomId, yes: bool) {
        let _ = self.seeing.try_update_value(|s| {
            if yes {
                *s = Some(room);
            } else if *s == Some(room) {
                *s = None;
            }
        });
    }

    /// The reader has seen `room` up to `seq`: the marker moves, here at once
    /// and for the server (which tells the reader's other devices).
    pub fn read(&self, room: RoomId, seq: Seq) {
        if self.unread.try_update(|u| u.read(room, seq)) == Some(Recount::Yes) {
            self.recount.update(|n| *n += 1);
        }
        self.live.send(ClientFrame::Read { room, seq });
    }
}

/// Keeps the sidebar's counts current with one frame.
fn count(
    frame: ServerFrame,
    unread: RwSignal<Unread>,
    (recount, rewatch): (RwSignal<u32>, StoredValue<bool>),
    me: StoredValue<String>,
    seeing: StoredValue<Option<RoomId>>,
) {
    let ask_again = match &frame {
        ServerFrame::Message { message } => {
            let seen = seeing.try_get_value().flatten() == Some(message.room);
            me.try_with_value(|me| unread.try_update(|u| u.message(message, me, seen)));
            false
        }
        ServerFrame::Update { update } => {
            unread.try_update(|u| u.event(update.room, update.seq));
            false
        }
        ServerFrame::Read { room, seq } => unread.try_update(|u| u.read(*room, *seq)) == Some(Recount::Yes),
        // A room opened for the first time joins the list, and is followed.
        ServerFrame::Joined { room, .. } => {
            let new = unread.try_with_untracked(|u| !u.contains(*room)) == Some(true);
            if new {
                let _ = rewatch.try_set_value(true);
            }
            new
        }
        _ => false,
    };
    if ask_again {
        recount.try_update(|n| *n += 1);
    }
}
