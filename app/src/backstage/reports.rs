//! The backstage's reports: messages members flagged, each in its context,
//! and closing them — taking the message down (a deletion in its room's log,
//! seen by everyone at once), resolving or dismissing. Administrators only;
//! every closing is audited.

use crate::protocol::{ApiError, Report};
use leptos::prelude::*;

/// Reports listed at once.
#[cfg(feature = "ssr")]
const REPORTS_PAGE: u32 = 50;

/// The open reports, oldest first; or, with `closed`, the latest closed ones.
#[server(endpoint = "admin/reports")]
pub async fn admin_reports(closed: bool) -> Result<Vec<Report>, ApiError> {
    let (services, _) = super::administrator().await?;
    Ok(services.store.reports(closed, REPORTS_PAGE).await?)
}

/// Closes a report (and every other open report of its message) as
/// `outcome`: `deleted` takes the message down first, for everyone.
#[server(endpoint = "admin/close_report")]
pub async fn admin_close_report(id: i64, outcome: String) -> Result<(), ApiError> {
    use crate::backend::BackendError;
    use crate::backend::store::{Moderation, NewUpdate, UpdateChange};
    use crate::protocol::{ErrorCode, ReportOutcome};
    use crate::validate::{ClientMessageId, Invalid};
    let (services, me, by) = super::administrator_in_person().await?;
    let outcome = ReportOutcome::parse(&outcome)
        .ok_or_else(|| BackendError::Invalid(Invalid("Close a report as deleted, resolved or dismissed.".into())))?;
    let gone = || {
        let code = ErrorCode::NotFound;
        crate::backend::error::set_response_status(code);
        ApiError::new(code, "There is no such open report: it may have been closed already.")
    };
    let (room, message) = services.store.open_report(id).await?.ok_or_else(gone)?;
    if outcome == ReportOutcome::Deleted {
        let update = NewUpdate {
            room,
            by: me,
            // One deletion per message, however many reports and clicks.
            client_id: ClientMessageId::parse(&format!("remove-{message}")).map_err(BackendError::from)?,
            message,
            change: UpdateChange::Delete,
            moderation: Moderation::AuditedByCaller,
        };
        match services.writer.submit_update(update).await?.await {
            // Deleted meanwhile (by its author, or another administrator): as good.
            Ok(_) | Err(BackendError::MessageNotFound | BackendError::Invalid(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if services.store.close_report(id, outcome, &by).await? {
        Ok(())
    } else {
        Err(gone())
    }
}
