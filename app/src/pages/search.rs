//! Searching messages: every room the reader may see, newest first, the
//! query's words marked, narrowed by room and author, a page at a time.
//! The query lives in the address (`/search?q=…&room=…&author=…`), so a
//! search is a link, the back button returns to it, and the first page is
//! rendered by the server.

use crate::api::{list_rooms, search_messages, who_am_i};
use crate::components::{LoadError, ToLogin, TopBar};
use crate::protocol::{ApiError, SearchHit, SearchPage, SiteRole};
use crate::time;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{A, Form};
use leptos_router::hooks::use_query_map;

/// What is searched for: the query and its filters, as in the address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Asked {
    q: String,
    room: Option<i64>,
    author: Option<String>,
}

#[component]
pub fn Search() -> impl IntoView {
    let me = Resource::new(|| (), |_| who_am_i());
    view! {
        <Title text="Search"/>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => view! {
                        <TopBar username=me.username admin=me.role == SiteRole::Admin searching=true/>
                        <SearchPanel/>
                    }.into_any(),
                    Ok(None) => view! { <ToLogin/> }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SearchPanel() -> impl IntoView {
    let query = use_query_map();
    let asked = Memo::new(move |_| {
        let query = query.read();
        Asked {
            q: query.get("q").unwrap_or_default(),
            room: query.get("room").and_then(|r| r.parse().ok()),
            author: query.get("author").filter(|a| !a.trim().is_empty()),
        }
    });
    let rooms = Resource::new(|| (), |_| list_rooms());
    let first = Resource::new(
        move || asked.get(),
        |asked| async move {
            if asked.q.trim().is_empty() {
                return None;
            }
            Some(search_messages(asked.q, asked.room, asked.author, None).await)
        },
    );
    // Pages after the first, for this query (cleared when it changes).
    let later = RwSignal::new(Vec::<SearchHit>::new());
    // Where the next page starts, once a later page has said (the first
    // page's own `next` until then).
    let more = RwSignal::new(None::<Option<i64>>);
    let loading = RwSignal::new(false);
    let more_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        asked.track();
        later.set(Vec::new());
        more.set(None);
        more_error.set(None);
        loading.set(false);
    });
    let load_more = move |from: i64| {
        let wanted = asked.get_untracked();
        loading.set(true);
        more_error.set(None);
        leptos::task::spawn_local(async move {
            let page = search_messages(wanted.q.clone(), wanted.room, wanted.author.clone(), Some(from)).await;
            // Only if the page is still here, for the same query.
            if asked.try_get_untracked().as_ref() != Some(&wanted) {
                return;
            }
            match page {
                Ok(page) => {
                    later.update(|l| l.extend(page.hits));
                    more.set(Some(page.next));
                }
                Err(e) => more_error.set(Some(e.message)),
            }
            loading.set(false);
        });
    };

    view! {
        <main class="page search">
            <h1>"Search"</h1>
            <Form method="GET" action="/search" attr:role="search" attr:class="search-form">
                <div class="field grow">
                    <label for="search-q">"Search messages"</label>
                    <input
                        id="search-q"
                        type="search"
                        name="q"
                        required
                        maxlength=crate::validate::SEARCH_MAX
                        autocomplete="off"
                        prop:value=move || asked.get().q
                    />
                </div>
                <div class="field">
                    <label for="search-room">"Room"</label>
                    <select id="search-room" name="room">
                        <option value="">"All rooms"</option>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                let chosen = asked.get_untracked().room;
                                rooms.await.unwrap_or_default().into_iter().map(|r| {
                                    let id = r.id.0;
                                    view! { <option value=id.to_string() selected=chosen == Some(id)>{r.name}</option> }
                                }).collect_view()
                            })}
                        </Transition>
                    </select>
                </div>
                <div class="field">
                    <label for="search-author">"From"</label>
                    <input
                        id="search-author"
                        name="author"
                        placeholder="Anyone"
                        maxlength=crate::validate::USERNAME_MAX
                        autocomplete="off"
                        prop:value=move || asked.get().author.unwrap_or_default()
                    />
                </div>
                <button type="submit">"Search"</button>
            </Form>
            <Transition fallback=|| view! { <p class="loading" role="status">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match first.await {
                        None => view! { <p class="empty">"Search every room you can read. Chinese works too: 天气 finds 今天天气很好."</p> }.into_any(),
                        Some(Err(error)) => view! { <Refused error/> }.into_any(),
                        Some(Ok(page)) => view! { <Results page later more loading more_error load_more/> }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

/// A search the server would not run (a bad query, too many searches).
#[component]
fn Refused(error: ApiError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.message}</p> }
}

#[component]
fn Results(
    page: SearchPage,
    later: RwSignal<Vec<SearchHit>>,
    more: RwSignal<Option<Option<i64>>>,
    loading: RwSignal<bool>,
    more_error: RwSignal<Option<String>>,
    load_more: impl Fn(i64) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if page.hits.is_empty() && page.next.is_none() {
        return view! { <p class="empty" role="status">"No messages found."</p> }.into_any();
    }
    let first_next = page.next;
    let first = page.hits;
    let next = move || more.get().unwrap_or(first_next);
    // The server reads a bounded number of candidates per ask: a query that
    // matches little may come back empty-handed with older ones to read.
    let first_found = !first.is_empty();
    let found_any = move || first_found || later.with(|l| !l.is_empty());
    view! {
        <section class="results" aria-label="Search results">
            <ol class="hits">
                {first.into_iter().map(|hit| view! { <Hit hit/> }).collect_view()}
                <For each=move || later.get() key=|hit| hit.id let:hit>
                    <Hit hit/>
                </For>
            </ol>
            <Show when=move || !found_any()>
                <p class="empty" role="status">
                    {move || if next().is_some() { "No matches among the newest messages yet." } else { "No messages found." }}
                </p>
            </Show>
            {move || more_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Show when=move || next().is_some()>
                <button type="button" class="ghost" disabled=move || loading.get() on:click=move |_| {
                    if let Some(from) = next() {
                        load_more(from);
                    }
                }>
                    {move || match (loading.get(), found_any()) {
                        (true, _) => "Loading…",
                        (false, true) => "Load more",
                        (false, false) => "Search older messages",
                    }}
                </button>
            </Show>
        </section>
    }
    .into_any()
}

/// One result: where and by whom, and the text with the query's words marked.
#[component]
fn Hit(hit: SearchHit) -> impl IntoView {
    let href = format!("/rooms/{}?message={}", hit.room.0, hit.id);
    let when = hit.created_at;
    view! {
        <li class="hit">
            <A href=href attr:class="hit-link">
                <span class="hit-meta">
                    <span class="hit-room">{hit.room_name}</span>
                    <span class="author">{hit.author}</span>
                    <time datetime=time::iso(when)>{move || time::date_time(when, time::offset())}</time>
                </span>
                <span class="hit-body">{marked(&hit.body, &hit.marks)}</span>
            </A>
        </li>
    }
}

/// `text` with the ranges in `marks` (bytes, sorted, apart) in `<mark>`s;
/// plain text, escaped like all text.
fn marked(text: &str, marks: &[(u32, u32)]) -> Vec<AnyView> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for &(start, end) in marks {
        let (start, end) = (start as usize, end as usize);
        // Ranges from the server are trusted only as far as they fit.
        if start < at || end > text.len() || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        out.push(text[at..start].to_string().into_any());
        out.push(view! { <mark>{text[start..end].to_string()}</mark> }.into_any());
        at = end;
    }
    out.push(text[at..].to_string().into_any());
    out
}
