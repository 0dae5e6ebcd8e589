//! The stamp every generated message carries in its body, and the clock it is read against.
//!
//! A body looks like `lg1 <step> <idx> <nanos> xxxx…`: the step it belongs to, its index
//! within its room for that step (unique, so each member can tick it off), and its send
//! instant in nanoseconds since [`base`]. Sender and receivers live in this one process, so
//! receive instant − stamp is an exact latency with no clock sync. A message that went out
//! later than scheduled is stamped with its *scheduled* instant, so the lateness is charged
//! to the latency instead of silently hidden (coordinated omission); the lateness itself is
//! reported separately as schedule lag.
//!
//! The body uses only ASCII letters, digits and spaces, so it appears unescaped in the
//! server's JSON and can be found with a plain byte search.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Marks a body as ours; the version digit leaves room to change the layout.
pub const BODY_TAG: &str = "lg1 ";

/// What a message body says about the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub step: u32,
    pub idx: u64,
    /// Send instant (the scheduled one if the send was late), nanoseconds since [`base`].
    pub sent_ns: u64,
}

static BASE: OnceLock<Instant> = OnceLock::new();

/// The process-wide zero of every stamp.
pub fn base() -> Instant {
    *BASE.get_or_init(Instant::now)
}

/// Nanoseconds since [`base`] (saturating: an instant before it reads as 0).
pub fn ns_since_base(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(base()).as_nanos()).unwrap_or(u64::MAX)
}

pub fn now_ns() -> u64 {
    ns_since_base(Instant::now())
}

pub fn instant_at(ns: u64) -> Instant {
    base() + Duration::from_nanos(ns)
}

/// Appends the body for `stamp` to `out`, padded with `x` to `body_bytes` (never shorter
/// than the stamp itself).
pub fn encode_body(out: &mut String, stamp: Stamp, body_bytes: usize) {
    use std::fmt::Write as _;
    let start = out.len();
    // Writing to a String cannot fail.
    let _ = write!(out, "{BODY_TAG}{} {} {} ", stamp.step, stamp.idx, stamp.sent_ns);
    let written = out.len() - start;
    out.extend(std::iter::repeat_n('x', body_bytes.saturating_sub(written)));
}

/// Reads a stamp from `rest`, the bytes right after [`BODY_TAG`].
pub fn decode_after_tag(rest: &[u8]) -> Option<Stamp> {
    let (step, rest) = number(rest)?;
    let (idx, rest) = number(rest)?;
    let (sent_ns, _) = number(rest)?;
    Some(Stamp {
        step: u32::try_from(step).ok()?,
        idx,
        sent_ns,
    })
}

/// A decimal number followed by one space; returns it and what follows the space.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes.iter().position(|b| !b.is_ascii_digit())?;
    if end == 0 || bytes[end] != b' ' {
        return None;
    }
    let mut n: u64 = 0;
    for &b in &bytes[..end] {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((n, &bytes[end + 1..]))
}

/// Finds the stamp of the first `"body":"lg1 …"` in a frame, without parsing the JSON.
pub fn find_in_frame(frame: &[u8]) -> Option<Stamp> {
    static FINDER: OnceLock<memchr::memmem::Finder<'static>> = OnceLock::new();
    let finder = FINDER.get_or_init(|| memchr::memmem::Finder::new(b"\"body\":\"lg1 "));
    let at = finder.find(frame)?;
    decode_after_tag(&frame[at + b"\"body\":\"lg1 ".len()..])
}

/// A per-run token that makes this run's client message ids unique even when the same
/// users send again in a later run (the server treats a repeated id as a retry and would
/// acknowledge it without delivering anything).
pub fn run_nonce() -> String {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = (wall as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:012x}", mixed & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_padded_to_its_size_and_decodes_to_its_stamp() {
        let stamp = Stamp {
            step: 3,
            idx: 123_456,
            sent_ns: 9_876_543_210,
        };
        let mut body = String::new();
        encode_body(&mut body, stamp, 100);
        assert_eq!(body.len(), 100);
        assert!(body.starts_with("lg1 3 123456 9876543210 x"));
        assert_eq!(decode_after_tag(&body.as_bytes()[BODY_TAG.len()..]), Some(stamp));
    }

    #[test]
    fn a_short_size_still_keeps_the_whole_stamp() {
        let stamp = Stamp {
            step: 0,
            idx: 1,
            sent_ns: 2,
        };
        let mut body = String::new();
        encode_body(&mut body, stamp, 3);
        assert_eq!(body, "lg1 0 1 2 ");
        assert_eq!(find_in_frame(format!(r#"{{"body":"{body}"}}"#).as_bytes()), Some(stamp));
    }

    #[test]
    fn the_stamp_is_found_inside_a_natter_and_a_peer_frame() {
        let natter = br#"{"type":"message","message":{"id":1,"room":2,"seq":3,"author":"a","body":"lg1 7 8 9 xx","created_at":1,"client_id":"c"}}"#;
        let peer =
            br#"42["message",{"id":1,"room":2,"author":"a","body":"lg1 7 8 9 xx","created_at":1,"client_id":"c"}]"#;
        let want = Some(Stamp {
            step: 7,
            idx: 8,
            sent_ns: 9,
        });
        assert_eq!(find_in_frame(natter), want);
        assert_eq!(find_in_frame(peer), want);
    }

    #[test]
    fn foreign_or_truncated_bodies_have_no_stamp() {
        assert_eq!(find_in_frame(br#"{"body":"hello"}"#), None);
        assert_eq!(find_in_frame(br#"{"body":"lg1 1 2"}"#), None);
        assert_eq!(find_in_frame(br#"{"body":"lg1 1 2 3"}"#), None);
        assert_eq!(find_in_frame(br#"{"body":"lg1 99999999999 2 3 "}"#), None);
        assert_eq!(find_in_frame(br#"{"body":"lg1 1 99999999999999999999999 3 "}"#), None);
    }
}
