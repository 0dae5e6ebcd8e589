//! One message on the room page: its text (or its tombstone), the message it
//! answers, its reactions, and its actions ("Add reaction", "Reply", on
//! one's own "Edit" and "Delete", on others' "Report"), shown on hover and
//! on keyboard focus.
//!
//! A message's element stays while the message changes (an edit, a
//! reaction): it reads the message through a signal, so focus on a reaction
//! chip or in the editor survives live updates.

use super::files::AttachmentView;
use crate::emoji;
use crate::mentions::{self, Piece};
use crate::protocol::{ChatMessage, Quote, Reaction};
use crate::time;
use crate::validate::MESSAGE_MAX;
use leptos::prelude::*;

/// Where an emoji picked in the picker goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickFor {
    Composer,
    /// A reaction to the message with this id.
    Reaction(i64),
}

/// What the page does with messages; shared by all of them.
#[derive(Clone, Copy)]
pub struct MessageActions {
    pub me: StoredValue<String>,
    /// The reader may delete others' messages here.
    pub moderator: bool,
    /// The message being edited inline, and the edit's text.
    pub editing: RwSignal<Option<i64>>,
    pub edit_draft: RwSignal<String>,
    /// The message the next send answers.
    pub replying: RwSignal<Option<Quote>>,
    /// The message whose deletion awaits confirmation.
    pub deleting: RwSignal<Option<i64>>,
    /// The message being reported (the report dialog is open).
    pub reporting: RwSignal<Option<i64>>,
    /// Whom the emoji picker is open for.
    pub picking: RwSignal<Option<PickFor>>,
    /// (message, emoji, on): add or take back the reader's reaction.
    pub react: Callback<(i64, String, bool)>,
    /// (message, text): save an edit.
    pub save_edit: Callback<(i64, String)>,
    /// Scroll to a quoted message, loading older history if needed.
    pub jump: Callback<Quote>,
    pub focus_composer: Callback<()>,
    /// Open a posted picture (by its attachment id) in the image viewer.
    pub open_image: Callback<String>,
}

/// What a quote shows of the original.
pub fn quote_text(q: &Quote) -> String {
    if q.deleted {
        "The original message was deleted.".into()
    } else {
        q.excerpt.clone()
    }
}

#[component]
pub fn MessageView(#[prop(into)] message: Signal<ChatMessage>, actions: MessageActions) -> impl IntoView {
    let first = message.get_untracked();
    let (id, seq, ms) = (first.id, first.seq, first.created_at);
    let author = first.author.clone();
    let mine = actions.me.with_value(|me| *me == author);
    let deleted = Memo::new(move |_| message.with(|m| m.deleted));
    let editing = Memo::new(move |_| actions.editing.get() == Some(id));

    let reply = {
        let author = author.clone();
        move |_| {
            let excerpt = message.with_untracked(|m| Quote::excerpt(&m.body));
            actions.replying.set(Some(Quote {
                id,
                seq,
                author: author.clone(),
                excerpt,
                deleted: false,
            }));
            actions.focus_composer.run(());
        }
    };
    let start_edit = move |_| {
        actions.edit_draft.set(message.with_untracked(|m| m.body.clone()));
        actions.editing.set(Some(id));
    };
    let may_delete = mine || actions.moderator;
    // Someone else's message naming the reader stands out for them.
    let mentions_me = move || {
        !mine && !deleted.get() && message.with(|m| actions.me.with_value(|me| mentions::mentions(&m.body, me)))
    };

    let quote = move || {
        message.with(|m| m.reply_to.clone()).map(|q| {
            let text = quote_text(&q);
            let who = q.author.clone();
            view! {
                <button type="button" class="quote" title="Show the original"
                    on:click=move |_| actions.jump.run(q.clone())>
                    <span class="quote-author">{who}</span>
                    <span class="quote-text">{text}</span>
                </button>
            }
        })
    };

    let body = move || {
        if deleted.get() {
            view! { <p class="body deleted">"This message was deleted."</p> }.into_any()
        } else if editing.get() {
            view! { <EditBox id actions/> }.into_any()
        } else {
            let text = message.with(|m| m.body.clone());
            // A file may go without words.
            if text.is_empty() {
                return ().into_any();
            }
            let jumbo = emoji::is_jumbo(&text);
            let me = actions.me.get_value();
            let pieces = mentions::pieces(&text)
                .into_iter()
                .map(|piece| match piece {
                    Piece::Text(t) => t.to_owned().into_any(),
                    Piece::Mention(m) => {
                        let of_me = m[1..].eq_ignore_ascii_case(&me);
                        view! { <span class="mention" class:of-me=of_me>{m.to_owned()}</span> }.into_any()
                    }
                })
                .collect_view();
            view! { <p class="body" class:jumbo=jumbo>{pieces}</p> }.into_any()
        }
    };
    let file = Memo::new(move |_| message.with(|m| m.attachment.clone()));
    let attachment = move || {
        file.get()
            .map(|file| view! { <AttachmentView file=*file open=actions.open_image/> })
    };

    let emojis = Memo::new(move |_| message.with(|m| m.reactions.iter().map(|r| r.emoji.clone()).collect::<Vec<_>>()));
    let reactions = move || {
        (!emojis.with(Vec::is_empty)).then(|| {
            view! {
                <div class="reactions" role="group" aria-label="Reactions">
                    <For each=move || emojis.get() key=|e| e.clone() let:emoji>
                        <Chip id emoji message actions/>
                    </For>
                </div>
            }
        })
    };

    let actions_bar = move || {
        (!deleted.get() && !editing.get()).then(|| {
            view! {
                <div class="actions" role="toolbar" aria-label="Message actions">
                    <button type="button" class="ghost small" aria-label="Add reaction" title="Add reaction"
                        on:click=move |_| actions.picking.set(Some(PickFor::Reaction(id)))>
                        <span aria-hidden="true">"☺+"</span>
                    </button>
                    <button type="button" class="ghost small" on:click=reply.clone()>"Reply"</button>
                    {mine.then(|| view! {
                        <button type="button" class="ghost small" on:click=start_edit>"Edit"</button>
                    })}
                    {may_delete.then(|| view! {
                        <button type="button" class="ghost small" on:click=move |_| actions.deleting.set(Some(id))>
                            "Delete"
                        </button>
                    })}
                    {(!mine).then(|| view! {
                        <button type="button" class="ghost small" on:click=move |_| actions.reporting.set(Some(id))>
                            "Report"
                        </button>
                    })}
                </div>
            }
        })
    };

    view! {
        <article class="msg" class:mine=mine class:deleted=move || deleted.get() class:mentions-me=mentions_me
            id=format!("msg-{id}")
            data-seq=seq tabindex="-1">
            <header>
                <span class="author">{author.clone()}</span>
                <time datetime=time::iso(ms) title=move || time::date_time(ms, time::offset())>
                    {move || time::clock(ms, time::offset())}
                </time>
                {move || message.with(|m| m.edited_at.filter(|_| !m.deleted)).map(|at| view! {
                    <span class="edited" title=move || format!("Edited {}", time::date_time(at, time::offset()))>
                        "(edited)"
                    </span>
                })}
                {mine.then(|| view! { <span class="state sent">"Sent"</span> })}
            </header>
            {quote}
            {body}
            {attachment}
            {reactions}
            {actions_bar}
        </article>
    }
}

/// One reaction chip: a toggle of the reader's own reaction, named by its
/// emoji and count ("👍 2"), listing who reacted on hover and focus.
#[component]
fn Chip(id: i64, emoji: String, message: Signal<ChatMessage>, actions: MessageActions) -> impl IntoView {
    let reaction = {
        let emoji = emoji.clone();
        Memo::new(move |_| message.with(|m| m.reactions.iter().find(|r| r.emoji == emoji).cloned()))
    };
    let me = actions.me.get_value();
    let pressed = {
        let me = me.clone();
        Memo::new(move |_| reaction.with(|r| r.as_ref().is_some_and(|r| r.users.contains(&me))))
    };
    let count = move || reaction.with(|r| r.as_ref().map_or(0, |r| r.users.len()));
    let who = move || reaction.with(|r| r.as_ref().map(|r: &Reaction| r.users.join(", ")).unwrap_or_default());
    let name = emoji::name(&emoji).unwrap_or_default();
    let label = {
        let emoji = emoji.clone();
        move || format!("{emoji} {}, {name}: {}", count(), who())
    };
    let toggle = {
        let emoji = emoji.clone();
        move |_| actions.react.run((id, emoji.clone(), !pressed.get_untracked()))
    };
    view! {
        <button type="button" class="chip" aria-pressed=move || pressed.get().to_string() aria-label=label
            on:click=toggle>
            <span class="chip-emoji">{emoji}</span>
            <span class="chip-count">{count}</span>
            <span class="who" aria-hidden="true">{who}</span>
        </button>
    }
}

/// The inline editor: Enter saves, Shift+Enter makes a new line, Escape cancels.
#[component]
fn EditBox(id: i64, actions: MessageActions) -> impl IntoView {
    let area = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(el) = area.get() {
            let _ = el.focus();
            let end = el.value().encode_utf16().count() as u32;
            let _ = el.set_selection_range(end, end);
        }
    });
    let save = move || actions.save_edit.run((id, actions.edit_draft.get_untracked()));
    let cancel = move || {
        actions.editing.set(None);
        actions.focus_composer.run(());
    };
    let field = format!("edit-{id}");
    view! {
        <div class="edit">
            <label for=field.clone() class="visually-hidden">"Edit message"</label>
            <textarea id=field rows="2" maxlength=MESSAGE_MAX node_ref=area
                prop:value=move || actions.edit_draft.get()
                on:input=move |ev| actions.edit_draft.set(event_target_value(&ev))
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        save();
                    } else if ev.key() == "Escape" {
                        ev.prevent_default();
                        cancel();
                    }
                }></textarea>
            <div class="edit-actions">
                <button type="button" class="small" on:click=move |_| save()>"Save"</button>
                <button type="button" class="ghost small" on:click=move |_| cancel()>"Cancel"</button>
                <span class="help">"Enter to save · Escape to cancel"</span>
            </div>
        </div>
    }
}
