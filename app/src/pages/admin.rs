//! The backstage (`/admin`), for administrators: overview, people, rooms,
//! reports, settings and the audit log.
//! Anyone else gets the page-not-found page, as the server functions behind
//! it answer them (see [`crate::backstage`]).

mod reports;
mod rooms;

use crate::api::who_am_i;
use crate::backstage::reports::AdminCloseReport;
use crate::backstage::rooms::{AdminArchiveRoom, AdminDeleteRoom, AdminUpdateRoom};
use crate::backstage::{
    AdminCreateInvitation, AdminEndSessions, AdminRemoveMessages, AdminRevokeInvitation, AdminSaveSettings,
    AdminSetDisabled, AdminSetRole, INVITATION_HOURS_MAX, INVITATION_USES_MAX, SITE_NAME_MAX, admin_audit,
    admin_invitations, admin_overview, admin_people, admin_settings,
};
use crate::components::{FormError, LoadError, ToLogin, TopBar};
use crate::pages::not_found::NotFound;
use crate::protocol::{
    ApiError, AuditAction, AuditEntry, Invitation, Overview, Person, SignupPolicy, SiteRole, SiteSettings,
};
use crate::time;
use leptos::prelude::*;
use leptos_meta::Title;

/// The backstage's actions, shared by its sections: the audit log shows
/// what the people section just did.
#[derive(Clone, Copy)]
struct Actions {
    set_disabled: ServerAction<AdminSetDisabled>,
    end_sessions: ServerAction<AdminEndSessions>,
    remove_messages: ServerAction<AdminRemoveMessages>,
    set_role: ServerAction<AdminSetRole>,
    save_settings: ServerAction<AdminSaveSettings>,
    create_invitation: ServerAction<AdminCreateInvitation>,
    revoke_invitation: ServerAction<AdminRevokeInvitation>,
    update_room: ServerAction<AdminUpdateRoom>,
    archive_room: ServerAction<AdminArchiveRoom>,
    delete_room: ServerAction<AdminDeleteRoom>,
    close_report: ServerAction<AdminCloseReport>,
    /// The latest outcome, for people to read: `Err` for a refusal.
    outcome: RwSignal<Option<Result<String, String>>>,
}

impl Actions {
    fn new() -> Self {
        let actions = Self {
            set_disabled: ServerAction::new(),
            end_sessions: ServerAction::new(),
            remove_messages: ServerAction::new(),
            set_role: ServerAction::new(),
            save_settings: ServerAction::new(),
            create_invitation: ServerAction::new(),
            revoke_invitation: ServerAction::new(),
            update_room: ServerAction::new(),
            archive_room: ServerAction::new(),
            delete_room: ServerAction::new(),
            close_report: ServerAction::new(),
            outcome: RwSignal::new(None),
        };
        let report = move |result: Option<Result<String, ApiError>>| {
            if let Some(result) = result {
                actions.outcome.set(Some(result.map_err(|e| e.message)));
            }
        };
        // An action's input is gone by the time its value comes: keep the
        // last one, for the sentence that reports it.
        let disabling = StoredValue::new(None::<AdminSetDisabled>);
        let removing = StoredValue::new(None::<String>);
        let archiving = StoredValue::new(false);
        Effect::new(move |_| {
            if let Some(input) = actions.set_disabled.input().get() {
                disabling.set_value(Some(input));
            }
            if let Some(input) = actions.remove_messages.input().get() {
                removing.set_value(Some(input.username));
            }
            if let Some(input) = actions.archive_room.input().get() {
                archiving.set_value(input.archived);
            }
        });
        let done = |action: &'static str| move |r: Result<(), ApiError>| r.map(|()| action.to_owned());
        Effect::new(move |_| report(actions.update_room.value().get().map(done("Room saved."))));
        Effect::new(move |_| {
            let said = if archiving.get_value() {
                "Room archived."
            } else {
                "Room restored."
            };
            report(actions.archive_room.value().get().map(done(said)))
        });
        Effect::new(move |_| report(actions.delete_room.value().get().map(done("Room deleted."))));
        Effect::new(move |_| report(actions.close_report.value().get().map(done("Report closed."))));
        Effect::new(move |_| {
            let done = disabling.get_value();
            report(actions.set_disabled.value().get().map(|r| {
                r.map(|()| match done {
                    Some(AdminSetDisabled {
                        username,
                        disabled: true,
                    }) => format!("Disabled {username}."),
                    Some(AdminSetDisabled { username, .. }) => format!("Enabled {username}."),
                    None => "Done.".into(),
                })
            }))
        });
        Effect::new(move |_| {
            report(actions.end_sessions.value().get().map(|r| {
                r.map(|n| match n {
                    1 => "Ended 1 session.".to_string(),
                    n => format!("Ended {n} sessions."),
                })
            }))
        });
        Effect::new(move |_| {
            let whose = removing.get_value();
            report(actions.remove_messages.value().get().map(|r| {
                r.map(|n| {
                    let whose = whose.unwrap_or_default();
                    match n {
                        1 => format!("Removed 1 message of {whose}."),
                        n => format!("Removed {n} messages of {whose}."),
                    }
                })
            }))
        });
        Effect::new(move |_| {
            report(
                actions
                    .set_role
                    .value()
                    .get()
                    .map(|r| r.map(|()| "Role changed.".into())),
            )
        });
        Effect::new(move |_| {
            report(
                actions
                    .save_settings
                    .value()
                    .get()
                    .map(|r| r.map(|()| "Settings saved.".into())),
            )
        });
        Effect::new(move |_| {
            report(
                actions
                    .create_invitation
                    .value()
                    .get()
                    .map(|r| r.map(|_| "Invitation created.".into())),
            )
        });
        Effect::new(move |_| {
            report(
                actions
                    .revoke_invitation
                    .value()
                    .get()
                    .map(|r| r.map(|()| "Invitation withdrawn.".into())),
            )
        });
        actions
    }

    /// Changes whenever one of the actions finished.
    fn version(&self) -> usize {
        self.set_disabled.version().get()
            + self.end_sessions.version().get()
            + self.remove_messages.version().get()
            + self.set_role.version().get()
            + self.save_settings.version().get()
            + self.create_invitation.version().get()
            + self.revoke_invitation.version().get()
            + self.update_room.version().get()
            + self.archive_room.version().get()
            + self.delete_room.version().get()
            + self.close_report.version().get()
    }
}

#[component]
pub fn Admin() -> impl IntoView {
    let me = Resource::new(|| (), |_| who_am_i());
    view! {
        <Title text="Admin"/>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) if me.role == SiteRole::Admin => {
                        let actions = Actions::new();
                        view! {
                            <TopBar username=me.username admin=true/>
                            <main class="page admin">
                                <h1>"Backstage"</h1>
                                <nav class="backstage-nav" aria-label="Backstage">
                                    <a href="#overview-heading">"Overview"</a>
                                    <a href="#people-heading">"People"</a>
                                    <a href="#rooms-heading">"Rooms"</a>
                                    <a href="#reports-heading">"Reports"</a>
                                    <a href="#settings-heading">"Settings"</a>
                                    <a href="#audit-heading">"Audit log"</a>
                                </nav>
                                <p class="outcome" role="status">
                                    {move || match actions.outcome.get() {
                                        Some(Ok(done)) => done,
                                        _ => String::new(),
                                    }}
                                </p>
                                <FormError error=Signal::derive(move || actions.outcome.get().and_then(Result::err))/>
                                <OverviewSection actions/>
                                <People actions/>
                                <rooms::Rooms actions/>
                                <reports::Reports actions/>
                                <Settings actions/>
                                <Audit actions/>
                            </main>
                        }
                        .into_any()
                    }
                    // The same page as for an address that does not exist.
                    Ok(Some(_)) => view! { <NotFound/> }.into_any(),
                    Ok(None) => view! { <ToLogin/> }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OverviewSection(actions: Actions) -> impl IntoView {
    let overview = Resource::new(move || actions.version(), |_| admin_overview());
    view! {
        <section class="card backstage" aria-labelledby="overview-heading">
            <h2 id="overview-heading">"Overview"</h2>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading the overview…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(overview) => view! { <OverviewBody overview/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn OverviewBody(overview: Overview) -> impl IntoView {
    let offset = time::offset();
    let busiest = overview.days.iter().map(|d| d.messages).max().unwrap_or(0).max(1);
    let stat = |label: &'static str, value: String| view! { <div><dt>{label}</dt><dd>{value}</dd></div> };
    let health_class = |state: &str| if state == "unreachable" { "bad" } else { "good" };
    view! {
        <dl class="stats">
            {stat("Online now", overview.online.to_string())}
            {stat("Accounts", overview.accounts.to_string())}
            {stat("Rooms", overview.rooms.to_string())}
            {stat("Direct conversations", overview.direct_rooms.to_string())}
            {stat("Messages today", overview.messages_today.to_string())}
            {stat("Messages this week", overview.messages_week.to_string())}
        </dl>
        <figure class="chart">
            <figcaption>"Messages per day, last 14 days (UTC)"</figcaption>
            // Bars drawn with SVG attributes: the page's CSP allows no inline styles.
            <svg viewBox="0 0 140 50" preserveAspectRatio="none" aria-hidden="true">
                {overview.days.iter().enumerate().map(|(n, d)| {
                    let height = (d.messages * 48 / busiest).max(1);
                    view! {
                        <rect x=n * 10 + 1 width="8" y=50 - height height=height rx="1"></rect>
                    }
                }).collect_view()}
            </svg>
            <ol class="visually-hidden">
                {overview.days.iter().map(|d| {
                    let day = time::iso(d.day).chars().take(10).collect::<String>();
                    view! { <li>{format!("{day}: {} messages", d.messages)}</li> }
                }).collect_view()}
            </ol>
        </figure>
        <h3>"Health"</h3>
        <ul class="health">
            <li class=health_class(&overview.database)>{format!("Database: {}", overview.database)}</li>
            <li class=health_class(&overview.redis)>{format!("Redis: {}", overview.redis)}</li>
        </ul>
        <h3>"Nodes serving"</h3>
        <div class="table-scroll">
            <table class="nodes" aria-label="Nodes serving">
                {column_heads(&["Node", "Started", "Last heard", "Sockets", "People"], None)}
                <tbody>
                    {overview.nodes.into_iter().map(|n| view! {
                        <tr>
                            <th scope="row">{n.id}</th>
                            <td><time datetime=time::iso(n.started_at)>{time::date_time(n.started_at, offset)}</time></td>
                            <td><time datetime=time::iso(n.seen_at)>{time::clock(n.seen_at, offset)}</time></td>
                            <td>{n.sockets}</td>
                            <td>{n.people}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn People(actions: Actions) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let people = Resource::new(
        move || (search.get(), actions.version()),
        |(search, _)| admin_people(search),
    );
    view! {
        <section class="card backstage" aria-labelledby="people-heading">
            <h2 id="people-heading">"People"</h2>
            <input type="search" class="people-search" aria-label="Search people" placeholder="Search by name"
                maxlength=crate::validate::USERNAME_MAX
                on:input=move |ev| search.set(event_target_value(&ev))/>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading people…"</p> }>
                {move || Suspend::new(async move {
                    match people.await {
                        Ok(list) if list.is_empty() => view! { <p class="empty">"Nobody by that name."</p> }.into_any(),
                        Ok(list) => view! { <PeopleTable people=list actions/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PeopleTable(people: Vec<Person>, actions: Actions) -> impl IntoView {
    let offset = time::offset();
    view! {
        <div class="table-scroll">
            <table class="people">
                {column_heads(&["Name", "Role", "Status", "Created", "Last seen", "Actions"], None)}
                <tbody>
                    {people.into_iter().map(|person| {
                        let name = person.username.clone();
                        let (for_role, for_toggle, for_sessions) = (name.clone(), name.clone(), name.clone());
                        let for_removal = name.clone();
                        let disabled = person.disabled;
                        view! {
                            <tr class:disabled=disabled>
                                <th scope="row">{person.username}</th>
                                <td>
                                    <select aria-label="Role" prop:value=person.role.as_str()
                                        on:change=move |ev| {
                                            actions.set_role.dispatch(AdminSetRole {
                                                username: for_role.clone(),
                                                role: event_target_value(&ev),
                                            });
                                        }>
                                        {SiteRole::ALL.into_iter().map(|role| view! {
                                            <option value=role.as_str() selected=role == person.role>{role.label()}</option>
                                        }).collect_view()}
                                    </select>
                                </td>
                                <td>{if disabled { "Disabled" } else { "Active" }}</td>
                                <td><time datetime=time::iso(person.created_at)>{time::date_time(person.created_at, offset)}</time></td>
                                <td>{match person.last_seen_at {
                                    Some(ms) => view! { <time datetime=time::iso(ms)>{time::date_time(ms, offset)}</time> }.into_any(),
                                    None => view! { <span>"—"</span> }.into_any(),
                                }}</td>
                                <td class="row-actions">
                                    <button type="button" class:danger=!disabled
                                        on:click=move |_| {
                                            actions.set_disabled.dispatch(AdminSetDisabled {
                                                username: for_toggle.clone(),
                                                disabled: !disabled,
                                            });
                                        }>
                                        {if disabled { "Enable" } else { "Disable" }}
                                    </button>
                                    <button type="button" class="ghost"
                                        on:click=move |_| {
                                            actions.end_sessions.dispatch(AdminEndSessions { username: for_sessions.clone() });
                                        }>
                                        "End sessions"
                                    </button>
                                    <button type="button" class="ghost"
                                        on:click=move |_| {
                                            let question = format!(
                                                "Remove every message {for_removal} ever wrote? Everyone will see \"This message was deleted.\" instead. This cannot be undone."
                                            );
                                            if confirmed(&question) {
                                                actions.remove_messages.dispatch(AdminRemoveMessages { username: for_removal.clone() });
                                            }
                                        }>
                                        "Remove messages"
                                    </button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Settings(actions: Actions) -> impl IntoView {
    let settings = Resource::new(move || actions.save_settings.version().get(), |_| admin_settings());
    let invitations = Resource::new(
        move || {
            (
                actions.create_invitation.version().get(),
                actions.revoke_invitation.version().get(),
            )
        },
        |_| admin_invitations(),
    );
    // The link just made, shown once: only its hash is kept.
    let new_link = move || {
        actions
            .create_invitation
            .value()
            .get()
            .and_then(Result::ok)
            .map(|path| {
                let origin = window_origin();
                format!("{origin}{path}")
            })
    };
    view! {
        <section class="card backstage" aria-labelledby="settings-heading">
            <h2 id="settings-heading">"Settings"</h2>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading settings…"</p> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(current) => view! { <SettingsForm current actions/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h3>"Invitations"</h3>
            <ActionForm action=actions.create_invitation attr:class="invite-form">
                <label for="invite-hours">"Valid for (hours)"</label>
                <input id="invite-hours" name="hours" type="number" min="1" max=INVITATION_HOURS_MAX value="72" required/>
                <label for="invite-uses">"Sign-ups allowed"</label>
                <input id="invite-uses" name="uses" type="number" min="1" max=INVITATION_USES_MAX value="1" required/>
                <button type="submit" disabled=move || actions.create_invitation.pending().get()>"Create invitation"</button>
            </ActionForm>
            {move || new_link().map(|link| view! {
                <p class="new-link">
                    <label for="invite-link">"Invitation link (shown once; copy it now)"</label>
                    <input id="invite-link" readonly value=link.clone() on:focus=|ev| select_all(&ev)/>
                </p>
            })}
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading invitations…"</p> }>
                {move || Suspend::new(async move {
                    match invitations.await {
                        Ok(list) => view! { <InvitationList list actions/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A table's column headings; `hidden` (last) is named for screen readers only.
fn column_heads(names: &'static [&'static str], hidden: Option<&'static str>) -> impl IntoView + use<> {
    view! {
        <thead>
            <tr>
                {names.iter().map(|name| view! { <th scope="col">{*name}</th> }).collect_view()}
                {hidden.map(|name| view! { <th scope="col"><span class="visually-hidden">{name}</span></th> })}
            </tr>
        </thead>
    }
}

/// Asks the browser's own confirmation dialog (`false` before hydration).
fn confirmed(question: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::window()
            .confirm_with_message(question)
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        false
    }
}

/// This page's origin (`https://chat.example`), for the invitation links.
fn window_origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::window().location().origin().unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}

/// Selects a read-only field's text when it gets focus, ready to copy.
fn select_all(ev: &leptos::ev::FocusEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
            input.select();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

#[component]
fn SettingsForm(current: SiteSettings, actions: Actions) -> impl IntoView {
    view! {
        <ActionForm action=actions.save_settings attr:class="settings-form">
            <label for="site-name">"Site name"</label>
            <input id="site-name" name="site_name" required maxlength=SITE_NAME_MAX value=current.site_name/>
            <fieldset role="radiogroup" aria-labelledby="signups-legend">
                <legend id="signups-legend">"Sign-ups"</legend>
                {SignupPolicy::ALL.into_iter().map(|policy| {
                    let id = format!("signups-{}", policy.as_str());
                    view! {
                        <label class="check">
                            <input type="radio" id=id name="signups" value=policy.as_str() checked=policy == current.signups/>
                            {policy.label()}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <button type="submit" disabled=move || actions.save_settings.pending().get()>"Save settings"</button>
        </ActionForm>
    }
}

#[component]
fn InvitationList(list: Vec<Invitation>, actions: Actions) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No invitations yet."</p> }.into_any();
    }
    let offset = time::offset();
    view! {
        <div class="table-scroll">
            <table class="invitations" aria-label="Invitations">
                {column_heads(&["Made", "By", "Expires", "Used", "State"], Some("Actions"))}
                <tbody>
                    {list.into_iter().map(|i| {
                        let live = !i.revoked && i.uses_left > 0 && !i.expired;
                        let state = if i.revoked {
                            "Withdrawn"
                        } else if i.uses_left == 0 {
                            "Used up"
                        } else if i.expired {
                            "Expired"
                        } else {
                            "Live"
                        };
                        let id = i.id;
                        view! {
                            <tr>
                                <td><time datetime=time::iso(i.created_at)>{time::date_time(i.created_at, offset)}</time></td>
                                <td>{i.created_by}</td>
                                <td><time datetime=time::iso(i.expires_at)>{time::date_time(i.expires_at, offset)}</time></td>
                                <td>{format!("{} of {}", i.used, i.used + i.uses_left)}</td>
                                <td>{state}</td>
                                <td>{live.then(|| view! {
                                    <button type="button" class="ghost"
                                        aria-label=format!("Withdraw invitation {id}")
                                        on:click=move |_| { actions.revoke_invitation.dispatch(AdminRevokeInvitation { id }); }>
                                        "Withdraw"
                                    </button>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Audit(actions: Actions) -> impl IntoView {
    let action = RwSignal::new(String::new());
    // The page shown: entries before this id (`None`: the newest).
    let before = RwSignal::new(None::<i64>);
    let page = Resource::new(
        move || (action.get(), before.get(), actions.version()),
        |(action, before, _)| admin_audit(before, Some(action)),
    );
    view! {
        <section class="card backstage" aria-labelledby="audit-heading">
            <h2 id="audit-heading">"Audit log"</h2>
            <select aria-label="Filter by action" on:change=move |ev| {
                before.set(None);
                action.set(event_target_value(&ev));
            }>
                <option value="">"All actions"</option>
                {AuditAction::ALL.into_iter().map(|a| view! { <option value=a.as_str()>{a.label()}</option> }).collect_view()}
            </select>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading the audit log…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) => {
                            let older = page.older;
                            view! {
                                <AuditTable entries=page.entries/>
                                <div class="pager">
                                    {move || before.get().is_some().then(|| view! {
                                        <button type="button" class="ghost" on:click=move |_| before.set(None)>"Newest entries"</button>
                                    })}
                                    {older.map(|id| view! {
                                        <button type="button" class="ghost" on:click=move |_| before.set(Some(id))>"Older entries"</button>
                                    })}
                                </div>
                            }
                            .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="empty">"Nothing recorded yet."</p> }.into_any();
    }
    let offset = time::offset();
    view! {
        <div class="table-scroll">
            <table class="audit" aria-label="Audit entries">
                {column_heads(&["When", "Who", "Action", "On", "Detail", "From"], None)}
                <tbody>
                    {entries.into_iter().map(|e| {
                        let action = AuditAction::parse(&e.action).map_or(e.action.clone(), |a| a.label().to_owned());
                        view! {
                            <tr>
                                <td><time datetime=time::iso(e.at)>{time::date_time(e.at, offset)}</time></td>
                                <td>{e.actor}</td>
                                <td>{action}</td>
                                <td>{e.target}</td>
                                <td>{e.detail}</td>
                                <td>{e.address}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
