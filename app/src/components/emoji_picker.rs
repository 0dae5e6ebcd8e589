//! The emoji picker: a modal dialog named "Emoji picker" with a searchbox,
//! categories, the emoji recently used on this browser, and a skin tone.
//! Each emoji is a button named by its common English name. Used by the
//! composer (to insert) and by a message's "Add reaction".

use crate::emoji::{self, Emoji, Group, SkinTone, TONES};
use leptos::prelude::*;

/// Most emoji kept as recently used.
const RECENT_MAX: usize = 24;
/// Most search results shown.
const RESULTS_MAX: usize = 200;
const RECENT_KEY: &str = "natter.emoji.recent";
const TONE_KEY: &str = "natter.emoji.tone";

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn load(key: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        storage()?.get_item(key).ok()?
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = key;
        None
    }
}

fn save(key: &str, value: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(s) = storage() {
        // Storage full or disabled: the choice is simply not remembered.
        let _ = s.set_item(key, value);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (key, value);
}

/// The emoji recently picked here, newest first (as their default tone).
fn load_recent() -> Vec<&'static Emoji> {
    load(RECENT_KEY)
        .map(|text| text.split(' ').filter_map(emojis::get).collect())
        .unwrap_or_default()
}

fn remember(recent: &mut Vec<&'static Emoji>, picked: &'static Emoji) {
    let base = picked.skin_tones().and_then(|mut t| t.next()).unwrap_or(picked);
    recent.retain(|e| e.as_str() != base.as_str());
    recent.insert(0, base);
    recent.truncate(RECENT_MAX);
    let text: Vec<&str> = recent.iter().map(|e| e.as_str()).collect();
    save(RECENT_KEY, &text.join(" "));
}

fn load_tone() -> SkinTone {
    let saved = load(TONE_KEY).and_then(|t| t.parse::<usize>().ok());
    saved
        .and_then(|i| TONES.get(i))
        .map_or(SkinTone::Default, |(tone, _)| *tone)
}

/// Arrow keys move between the grid's emoji (up and down by a row); the
/// searchbox's ArrowDown enters the grid.
fn move_focus(ev: &leptos::ev::KeyboardEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(from) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else {
            return;
        };
        let width = from.offset_width().max(1);
        let row = from
            .parent_element()
            .map_or(1, |grid| (grid.client_width() / width).max(1));
        let (steps, forward) = match ev.key().as_str() {
            "ArrowRight" => (1, true),
            "ArrowLeft" => (1, false),
            "ArrowDown" => (row, true),
            "ArrowUp" => (row, false),
            _ => return,
        };
        ev.prevent_default();
        let mut at: web_sys::Element = from.into();
        for _ in 0..steps {
            let next = if forward {
                at.next_element_sibling()
            } else {
                at.previous_element_sibling()
            };
            match next {
                Some(next) if next.tag_name() == "BUTTON" => at = next,
                _ => break,
            }
        }
        if let Some(el) = at.dyn_ref::<web_sys::HtmlElement>() {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

/// What the grid shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Showing {
    Recent,
    Category(Group),
}

/// The picker. `open` shows it as a modal dialog; picking an emoji calls
/// `on_pick` with it (in the chosen skin tone) and closes it; Escape, the
/// Close button or picking call `on_close`.
#[component]
pub fn EmojiPicker(
    #[prop(into)] open: Signal<bool>,
    #[prop(into)] on_pick: Callback<String>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let search = NodeRef::<leptos::html::Input>::new();
    let grid = NodeRef::<leptos::html::Div>::new();
    let query = RwSignal::new(String::new());
    let recent = RwSignal::new(Vec::<&'static Emoji>::new());
    let tone = RwSignal::new(SkinTone::Default);
    let showing = RwSignal::new(Showing::Category(Group::SmileysAndEmotion));

    // Opened and closed with the dialog element's own modal API: it keeps
    // focus inside while open, and Escape closes it.
    Effect::new(move |_| {
        let Some(el) = dialog.get() else { return };
        if open.get() {
            if !el.open() {
                recent.set(load_recent());
                tone.set(load_tone());
                showing.set(if recent.with_untracked(Vec::is_empty) {
                    Showing::Category(Group::SmileysAndEmotion)
                } else {
                    Showing::Recent
                });
                query.set(String::new());
                let _ = el.show_modal();
                if let Some(input) = search.get_untracked() {
                    let _ = input.focus();
                }
            }
        } else if el.open() {
            el.close();
        }
    });

    let shown = Memo::new(move |_| {
        let q = query.get();
        if !q.trim().is_empty() {
            return emoji::search(&q, RESULTS_MAX);
        }
        match showing.get() {
            Showing::Recent => recent.get(),
            Showing::Category(group) => group.emojis().collect(),
        }
    });

    let pick = move |e: &'static Emoji| {
        let toned = emoji::toned(e, tone.get_untracked());
        recent.update(|r| remember(r, toned));
        on_pick.run(toned.as_str().to_owned());
        on_close.run(());
    };

    let category = move |which: Showing, label: &'static str, icon: &'static str| {
        view! {
            <button type="button" class="ghost tab" aria-label=label title=label
                aria-pressed=move || (showing.get() == which && query.with(|q| q.trim().is_empty())).to_string()
                on:click=move |_| { query.set(String::new()); showing.set(which); }>
                {icon}
            </button>
        }
    };
    let categories = Group::iter()
        .map(|g| {
            let icon = g.emojis().next().map_or("", Emoji::as_str);
            category(Showing::Category(g), emoji::group_name(g), icon)
        })
        .collect_view();

    view! {
        <dialog class="emoji-picker" aria-label="Emoji picker" node_ref=dialog
            on:close=move |_| on_close.run(())>
            <div class="picker-head">
                <label for="emoji-search" class="visually-hidden">"Search emoji"</label>
                <input id="emoji-search" type="search" placeholder="Search emoji" autocomplete="off"
                    node_ref=search
                    prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        // Enter takes the first match; ArrowDown goes to the emoji.
                        if ev.key() == "Enter" {
                            ev.prevent_default();
                            if let Some(first) = shown.with_untracked(|s| s.first().copied()) {
                                pick(first);
                            }
                        } else if ev.key() == "ArrowDown" {
                            ev.prevent_default();
                            if let Some(first) = grid.get_untracked().and_then(|g| g.first_element_child()) {
                                #[cfg(feature = "hydrate")]
                                if let Some(el) = wasm_bindgen::JsCast::dyn_ref::<web_sys::HtmlElement>(&first) {
                                    let _ = el.focus();
                                }
                                #[cfg(not(feature = "hydrate"))]
                                let _ = first;
                            }
                        }
                    }/>
                <label for="emoji-tone" class="visually-hidden">"Skin tone"</label>
                <select id="emoji-tone" title="Skin tone"
                    on:change=move |ev| {
                        let i = event_target_value(&ev).parse::<usize>().unwrap_or(0);
                        if let Some((t, _)) = TONES.get(i) {
                            tone.set(*t);
                            save(TONE_KEY, &i.to_string());
                        }
                    }>
                    {TONES.iter().enumerate().map(|(i, (t, label))| {
                        let t = *t;
                        view! { <option value=i.to_string() selected=move || tone.get() == t>{format!("✋ {label}")}</option> }
                    }).collect_view()}
                </select>
                <button type="button" class="ghost small" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
            <nav class="picker-tabs" aria-label="Emoji categories">
                {move || (!recent.with(Vec::is_empty)).then(|| category(Showing::Recent, "Recently used", "🕘"))}
                {categories}
            </nav>
            <div class="picker-grid" role="group" aria-label="Emoji" node_ref=grid>
                <For each=move || shown.get() key=|e| e.as_str() let:e>
                    <button type="button" class="emoji" aria-label=e.name() title=e.name()
                        on:click=move |_| pick(e) on:keydown=move |ev| move_focus(&ev)>
                        {move || emoji::toned(e, tone.get()).as_str()}
                    </button>
                </For>
                {move || shown.with(Vec::is_empty).then(|| view! {
                    <p class="empty">{move || if query.with(|q| q.trim().is_empty()) { "Nothing used yet." } else { "No emoji found." }}</p>
                })}
            </div>
        </dialog>
    }
}
