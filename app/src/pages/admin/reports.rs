//! The backstage's Reports section: messages members reported, oldest
//! first, each with the messages around it and the reporter's reason; an
//! administrator deletes the message, resolves or dismisses the report.

use super::Actions;
use crate::backstage::reports::{AdminCloseReport, admin_reports};
use crate::protocol::{Report, ReportOutcome, ReportedMessage};
use crate::time;
use leptos::prelude::*;

#[component]
pub(super) fn Reports(actions: Actions) -> impl IntoView {
    let closed = RwSignal::new(false);
    let reports = Resource::new(
        move || (closed.get(), actions.version()),
        |(closed, _)| admin_reports(closed),
    );
    view! {
        <section class="card backstage" aria-labelledby="reports-heading">
            <h2 id="reports-heading">"Reports"</h2>
            <select aria-label="Show reports" on:change=move |ev| closed.set(event_target_value(&ev) == "closed")>
                <option value="open">"Open"</option>
                <option value="closed">"Closed"</option>
            </select>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading reports…"</p> }>
                {move || Suspend::new(async move {
                    match reports.await {
                        Ok(list) if list.is_empty() => {
                            let none = if closed.get_untracked() { "No report closed yet." } else { "No open reports." };
                            view! { <p class="empty">{none}</p> }.into_any()
                        }
                        Ok(list) => view! {
                            <ul class="reports" aria-label="Reported messages">
                                {list.into_iter().map(|report| view! { <ReportItem report actions/> }).collect_view()}
                            </ul>
                        }
                        .into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ReportItem(report: Report, actions: Actions) -> impl IntoView {
    let offset = time::offset();
    let id = report.id;
    let close = move |outcome: ReportOutcome| {
        move |_| {
            actions.close_report.dispatch(AdminCloseReport {
                id,
                outcome: outcome.as_str().to_owned(),
            });
        }
    };
    let reason = if report.reason.is_empty() {
        "No reason given.".to_string()
    } else {
        report.reason.clone()
    };
    let line = |m: ReportedMessage, reported: bool| {
        let text = if m.deleted {
            "This message was deleted.".to_string()
        } else {
            m.body
        };
        view! {
            <li class:reported=reported class:deleted=m.deleted>
                <span class="author">{m.author}</span>
                <time datetime=time::iso(m.sent_at)>{time::clock(m.sent_at, offset)}</time>
                <span class="body">{text}</span>
            </li>
        }
    };
    let state = match (report.outcome, report.closed_by, report.closed_at) {
        (Some(outcome), Some(by), Some(at)) => view! {
            <p class="report-state">{format!("{} by {by}, {}", outcome.label(), time::date_time(at, offset))}</p>
        }
        .into_any(),
        _ => view! {
            <div class="row-actions">
                <button type="button" class="danger" on:click=close(ReportOutcome::Deleted)>"Delete message"</button>
                <button type="button" class="ghost" on:click=close(ReportOutcome::Resolved)>"Resolve"</button>
                <button type="button" class="ghost" on:click=close(ReportOutcome::Dismissed)>"Dismiss"</button>
            </div>
        }
        .into_any(),
    };
    view! {
        <li class="report">
            <p class="report-head">
                {format!("{} reported a message by {} in {}, ", report.reporter, report.message.author, report.room_name)}
                <time datetime=time::iso(report.created_at)>{time::date_time(report.created_at, offset)}</time>
            </p>
            <p class="report-reason">{reason}</p>
            <ol class="report-context" aria-label="The message in context">
                {report.before.into_iter().map(|m| line(m, false)).collect_view()}
                {line(report.message, true)}
                {report.after.into_iter().map(|m| line(m, false)).collect_view()}
            </ol>
            {state}
        </li>
    }
}
