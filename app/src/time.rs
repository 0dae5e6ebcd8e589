//! Showing server timestamps in the reader's time zone.
//!
//! The server renders in UTC (it cannot know the reader's zone); once hydrated,
//! the browser sets its own offset and every time re-renders locally. Both
//! first renders agree, so hydration never sees different text.

use crate::protocol::Millis;
use chrono::{DateTime, FixedOffset};
use leptos::prelude::*;

/// Minutes east of UTC for displaying times.
#[derive(Clone, Copy)]
pub struct LocalOffset(pub RwSignal<i32>);

pub fn provide_local_offset() {
    let offset = RwSignal::new(0);
    provide_context(LocalOffset(offset));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // getTimezoneOffset is minutes *west* of UTC.
        let west = js_sys::Date::new_0().get_timezone_offset();
        offset.set(-(west as i32));
    });
}

fn local(ms: Millis, offset_minutes: i32) -> Option<DateTime<FixedOffset>> {
    let zone = FixedOffset::east_opt(offset_minutes * 60)?;
    Some(DateTime::from_timestamp_millis(ms)?.with_timezone(&zone))
}

/// "14:05" — for messages.
pub fn clock(ms: Millis, offset_minutes: i32) -> String {
    local(ms, offset_minutes)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// "2026-11-25 14:05" — for tooltips and the room list.
pub fn date_time(ms: Millis, offset_minutes: i32) -> String {
    local(ms, offset_minutes)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// ISO 8601 in UTC for `<time datetime>`.
pub fn iso(ms: Millis) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

pub fn offset() -> i32 {
    use_context::<LocalOffset>().map(|o| o.0.get()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_given_offset() {
        let ms = 1_764_000_000_000; // 2025-11-24T16:00:00Z
        assert_eq!(clock(ms, 0), "16:00");
        assert_eq!(clock(ms, 90), "17:30");
        assert_eq!(date_time(ms, -60), "2025-11-24 15:00");
        assert!(iso(ms).starts_with("2025-11-24T16:00:00"));
    }
}
