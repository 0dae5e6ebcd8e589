//! One connection's inbox: the frames the hub queued for it, and the rare
//! alerts (too slow, kicked from a room, session ended, server stopping),
//! which share one wake-up so that an idle connection waits on two signals,
//! not five.
//!
//! Why not a tokio channel per connection: its first block holds 32 slots
//! and its state is cache-padded, ~1.5 KiB per idle socket before a single
//! frame (plus ~800 bytes for a second channel for kicks) — the largest
//! thing an idle socket owned after its task. Here an idle socket costs one
//! ~200-byte allocation; the queue grows with a burst and is given back once
//! drained.

use app::protocol::RoomId;
use axum::extract::ws::Utf8Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// A drained queue keeps its buffer up to this many slots (256 bytes).
const KEEP_SLOTS: usize = 8;

/// What [`Mailbox::push`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// `capacity` frames are waiting: the connection is too slow.
    Full,
    /// The connection is closing; nobody will read the frame.
    Closed,
}

pub struct Mailbox {
    frames: Mutex<VecDeque<Utf8Bytes>>,
    capacity: usize,
    closed: AtomicBool,
    /// A heartbeat ping is due (the reader keeps the clock; the writer sends it).
    ping: AtomicBool,
    /// Notified when frames were queued or a ping is due.
    pub ready: Notify,
    /// Notified when there are [`Alerts`] to take.
    pub alert: Notify,
    /// The queue overflowed: the connection must close and resync.
    overflowed: AtomicBool,
    /// The session the socket was opened with has ended.
    session_ended: AtomicBool,
    /// The server is shutting down.
    shutting_down: AtomicBool,
    kicked_rooms: Mutex<Vec<RoomId>>,
}

/// What [`Mailbox::take_alerts`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Alerts {
    pub overflowed: bool,
    pub session_ended: bool,
    pub shutting_down: bool,
    /// Rooms the user lost access to: the connection must leave them at once.
    pub kicked: Vec<RoomId>,
}

impl Mailbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            frames: Mutex::new(VecDeque::new()),
            capacity,
            closed: AtomicBool::new(false),
            ping: AtomicBool::new(false),
            ready: Notify::new(),
            alert: Notify::new(),
            overflowed: AtomicBool::new(false),
            session_ended: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            kicked_rooms: Mutex::new(Vec::new()),
        }
    }

    // Every critical section below is a single push or take, so a poisoned
    // lock still holds consistent data: the poison is ignored.
    fn frames(&self) -> MutexGuard<'_, VecDeque<Utf8Bytes>> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn kicked_rooms(&self) -> MutexGuard<'_, Vec<RoomId>> {
        self.kicked_rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame` without waiting; a full queue raises the `overflowed` alert.
    pub fn push(&self, frame: Utf8Bytes) -> Pushed {
        if self.closed.load(Ordering::Relaxed) {
            return Pushed::Closed;
        }
        {
            let mut frames = self.frames();
            if frames.len() >= self.capacity {
                drop(frames);
                self.overflowed.store(true, Ordering::Relaxed);
                self.alert.notify_one();
                return Pushed::Full;
            }
            frames.push_back(frame);
        }
        // Stores a permit if the writer is busy, so no frame waits for the next one.
        self.ready.notify_one();
        Pushed::Queued
    }

    /// Takes the oldest frame. The writer pops frames one at a time straight
    /// into the socket's buffer, so delivering one costs no allocation; the
    /// frames it has not reached yet still count against the capacity.
    pub fn pop(&self) -> Option<Utf8Bytes> {
        let mut frames = self.frames();
        let frame = frames.pop_front();
        if frames.is_empty() && frames.capacity() > KEEP_SLOTS {
            // A burst is over: give its buffer back rather than keep it for the socket's life.
            *frames = VecDeque::new();
        }
        frame
    }

    /// After a writer stopped at its batch limit: if frames are left, `ready`
    /// is notified so that it comes straight back for them.
    pub fn wake_if_pending(&self) {
        if !self.frames().is_empty() {
            self.ready.notify_one();
        }
    }

    /// Asks the writer to send a heartbeat ping.
    pub fn ping(&self) {
        self.ping.store(true, Ordering::Relaxed);
        self.ready.notify_one();
    }

    /// Whether a ping is due; the answer is given once per [`Mailbox::ping`].
    pub fn take_ping(&self) -> bool {
        self.ping.swap(false, Ordering::Relaxed)
    }

    /// No more frames will be read: later pushes are refused, queued ones dropped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        *self.frames() = VecDeque::new();
    }

    /// The connection's user lost access to `room`: it must leave it at once.
    pub fn kick(&self, room: RoomId) {
        self.kicked_rooms().push(room);
        // Stores a permit if the connection is busy, so the kick is not missed.
        self.alert.notify_one();
    }

    /// The session the socket was opened with ended: it must close.
    pub fn end_session(&self) {
        self.session_ended.store(true, Ordering::Relaxed);
        self.alert.notify_one();
    }

    /// The server is shutting down: the connection must close.
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.alert.notify_one();
    }

    /// The alerts raised since the last call.
    pub fn take_alerts(&self) -> Alerts {
        Alerts {
            overflowed: self.overflowed.swap(false, Ordering::Relaxed),
            session_ended: self.session_ended.swap(false, Ordering::Relaxed),
            shutting_down: self.shutting_down.swap(false, Ordering::Relaxed),
            kicked: std::mem::take(&mut *self.kicked_rooms()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Pops up to `max` frames, as the writer does.
    fn texts(mailbox: &Mailbox, max: usize) -> Vec<String> {
        std::iter::from_fn(|| mailbox.pop())
            .take(max)
            .map(|f| f.as_str().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn frames_come_out_in_order_in_batches_and_the_writer_is_woken_for_the_rest() {
        let mailbox = Mailbox::new(10);
        for n in 0..5 {
            assert_eq!(mailbox.push(Utf8Bytes::from(n.to_string())), Pushed::Queued);
        }
        tokio::time::timeout(Duration::from_secs(1), mailbox.ready.notified())
            .await
            .expect("a push wakes the writer");
        assert_eq!(texts(&mailbox, 3), ["0", "1", "2"]);
        // Two are left: the writer must not wait for another push to get them.
        mailbox.wake_if_pending();
        tokio::time::timeout(Duration::from_secs(1), mailbox.ready.notified())
            .await
            .expect("frames left over keep the writer awake");
        assert_eq!(texts(&mailbox, 3), ["3", "4"]);
        assert!(mailbox.pop().is_none());
        // Nothing left: no wake-up is stored for the writer to find.
        mailbox.wake_if_pending();
        let woken = tokio::time::timeout(Duration::from_millis(50), mailbox.ready.notified()).await;
        assert!(woken.is_err(), "an empty mailbox woke the writer");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_signals_overflow() {
        let mailbox = Mailbox::new(2);
        mailbox.push(Utf8Bytes::from("a"));
        mailbox.push(Utf8Bytes::from("b"));
        assert_eq!(mailbox.push(Utf8Bytes::from("c")), Pushed::Full);
        tokio::time::timeout(Duration::from_secs(1), mailbox.alert.notified())
            .await
            .expect("overflow is signalled");
        assert!(mailbox.take_alerts().overflowed);
        assert_eq!(texts(&mailbox, 10), ["a", "b"]);
    }

    #[test]
    fn a_drained_burst_gives_its_buffer_back_and_a_closed_box_takes_nothing() {
        let mailbox = Mailbox::new(1000);
        for n in 0..500 {
            mailbox.push(Utf8Bytes::from(n.to_string()));
        }
        assert_eq!(texts(&mailbox, 1000).len(), 500);
        assert!(mailbox.frames().capacity() <= KEEP_SLOTS);
        mailbox.close();
        assert_eq!(mailbox.push(Utf8Bytes::from("late")), Pushed::Closed);
        assert!(mailbox.pop().is_none());
    }

    #[tokio::test]
    async fn a_ping_wakes_the_writer_and_is_taken_once() {
        let mailbox = Mailbox::new(1);
        assert!(!mailbox.take_ping());
        mailbox.ping();
        tokio::time::timeout(Duration::from_secs(1), mailbox.ready.notified())
            .await
            .expect("a due ping wakes the writer");
        assert!(mailbox.take_ping());
        assert!(!mailbox.take_ping());
    }

    #[tokio::test]
    async fn alerts_are_kept_until_taken_and_taken_once() {
        let mailbox = Mailbox::new(1);
        mailbox.kick(RoomId(1));
        mailbox.kick(RoomId(2));
        mailbox.end_session();
        mailbox.shut_down();
        tokio::time::timeout(Duration::from_secs(1), mailbox.alert.notified())
            .await
            .expect("an alert wakes the connection");
        let alerts = mailbox.take_alerts();
        assert_eq!(alerts.kicked, [RoomId(1), RoomId(2)]);
        assert!(alerts.session_ended);
        assert!(alerts.shutting_down);
        assert!(!alerts.overflowed);
        assert_eq!(mailbox.take_alerts(), Alerts::default());
    }
}
