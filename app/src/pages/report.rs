//! Reporting a message to the administrators, from its actions: a dialog
//! with an optional reason, then a note that it was sent.

use crate::api::{REPORT_REASON_MAX, ReportMessage};
use crate::components::{FormError, error_message, modal_follows};
use crate::protocol::RoomId;
use leptos::prelude::*;
use std::time::Duration;

/// How long the "report sent" note stays.
const NOTE_SHOWN: Duration = Duration::from_secs(8);

/// The dialog for the message `reporting` names, if any.
#[component]
pub fn ReportDialog(room: RoomId, reporting: RwSignal<Option<i64>>) -> impl IntoView {
    let report = ServerAction::<ReportMessage>::new();
    let reason = RwSignal::new(String::new());
    let sent = RwSignal::new(false);
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    modal_follows(dialog, move || reporting.with(Option::is_some));
    // Each report starts afresh.
    Effect::new(move |_| {
        if reporting.with(Option::is_some) {
            reason.set(String::new());
            report.value().set(None);
        }
    });
    Effect::new(move |_| {
        if matches!(report.value().get(), Some(Ok(()))) {
            reporting.set(None);
            sent.set(true);
            set_timeout(move || sent.set(false), NOTE_SHOWN);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(message) = reporting.get_untracked() {
            report.dispatch(ReportMessage {
                room: room.0,
                message,
                reason: reason.get_untracked(),
            });
        }
    };
    view! {
        <dialog class="confirm" aria-labelledby="report-title" aria-describedby="report-help"
            node_ref=dialog on:close=move |_| reporting.set(None)>
            <h2 id="report-title">"Report message"</h2>
            <p id="report-help">"The site's administrators will see this message, the ones around it, and your reason."</p>
            <form class="dialog-form" on:submit=submit>
                <label for="report-reason">"Reason (optional)"</label>
                <textarea id="report-reason" rows="3" maxlength=REPORT_REASON_MAX
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))></textarea>
                <FormError error=Signal::derive(move || error_message(report.value().get()))/>
                <div class="dialog-actions">
                    <button type="button" class="ghost" on:click=move |_| reporting.set(None)>"Cancel"</button>
                    <button type="submit" disabled=move || report.pending().get()>"Send report"</button>
                </div>
            </form>
        </dialog>
        <p class="toast" role="status">
            {move || sent.get().then_some("Report sent. An administrator will look at it.")}
        </p>
    }
}
