//! One connection's inbox: the frames the hub queued for it, and the rare
//! alerts (too slow, kicked from a room, session ended, server stopping),
//! which share one wake-up so that an idle connection waits on two signals,
//! not five.
//!
//! The queue is bounded twice: in frames and in bytes (a catch-up frame can
//! be 64 KiB where a chat message is 300 bytes). Past either bound the
//! connection is too slow and is told to go. Replies the connection's own
//! requests produce are also tracked until the writer takes them, so that
//! the reader can wait for its last one before reading the next request
//! (see `ws.rs`): a client that asks and never reads then stops being read,
//! instead of having the server hold every answer for it.
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

/// The frames waiting for the writer, and how far it has got.
#[derive(Default)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    /// Bytes of `frames`.
    bytes: usize,
    /// Frames ever queued and ever taken: a frame's position is its count.
    pushed: u64,
    taken: u64,
    /// The position of a reply the reader waits to see taken (0: none).
    awaited: u64,
}

pub struct Mailbox {
    queue: Mutex<Queue>,
    capacity: usize,
    capacity_bytes: usize,
    closed: AtomicBool,
    /// A heartbeat ping is due (the reader keeps the clock; the writer sends it).
    ping: AtomicBool,
    /// Notified when frames were queued or a ping is due.
    pub ready: Notify,
    /// Notified when there are [`Alerts`] to take, and when the reply the
    /// reader waits for was taken by the writer.
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
    /// A mailbox holding at most `capacity` frames and `capacity_bytes` bytes.
    pub fn new(capacity: usize, capacity_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            capacity,
            capacity_bytes,
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
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn kicked_rooms(&self) -> MutexGuard<'_, Vec<RoomId>> {
        self.kicked_rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame` without waiting; a full queue raises the `overflowed` alert.
    pub fn push(&self, frame: Utf8Bytes) -> Pushed {
        self.enqueue(frame).map_or_else(|refused| refused, |_| Pushed::Queued)
    }

    /// Queues a reply to the connection's own request, like [`Mailbox::push`],
    /// and returns its position for [`Mailbox::reply_taken`].
    pub fn push_reply(&self, frame: Utf8Bytes) -> Option<u64> {
        self.enqueue(frame).ok()
    }

    fn enqueue(&self, frame: Utf8Bytes) -> Result<u64, Pushed> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Pushed::Closed);
        }
        let position = {
            let mut queue = self.queue();
            if queue.frames.len() >= self.capacity || queue.bytes + frame.len() > self.capacity_bytes {
                drop(queue);
                self.overflowed.store(true, Ordering::Relaxed);
                self.alert.notify_one();
                return Err(Pushed::Full);
            }
            queue.bytes += frame.len();
            queue.frames.push_back(frame);
            queue.pushed += 1;
            queue.pushed
        };
        // Stores a permit if the writer is busy, so no frame waits for the next one.
        self.ready.notify_one();
        Ok(position)
    }

    /// Takes the oldest frame. The writer pops frames one at a time straight
    /// into the socket's buffer, so delivering one costs no allocation; the
    /// frames it has not reached yet still count against the capacity.
    pub fn pop(&self) -> Option<Utf8Bytes> {
        let mut queue = self.queue();
        let frame = queue.frames.pop_front()?;
        queue.bytes -= frame.len();
        queue.taken += 1;
        let awaited_reply = queue.taken == queue.awaited;
        if queue.frames.is_empty() && queue.frames.capacity() > KEEP_SLOTS {
            // A burst is over: give its buffer back rather than keep it for the socket's life.
            queue.frames = VecDeque::new();
        }
        drop(queue);
        if awaited_reply {
            self.alert.notify_one();
        }
        Some(frame)
    }

    /// Whether the writer has taken the reply at `position` (and so every
    /// frame before it). If not, the reader is woken through `alert` once it has.
    pub fn reply_taken(&self, position: u64) -> bool {
        let mut queue = self.queue();
        if queue.taken >= position {
            return true;
        }
        queue.awaited = position;
        false
    }

    /// After a writer stopped at its batch limit: if frames are left, `ready`
    /// is notified so that it comes straight back for them.
    pub fn wake_if_pending(&self) {
        if !self.queue().frames.is_empty() {
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
        let mut queue = self.queue();
        queue.frames = VecDeque::new();
        queue.bytes = 0;
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
        let mailbox = Mailbox::new(10, 1024);
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
        let mailbox = Mailbox::new(2, 1024);
        mailbox.push(Utf8Bytes::from("a"));
        mailbox.push(Utf8Bytes::from("b"));
        assert_eq!(mailbox.push(Utf8Bytes::from("c")), Pushed::Full);
        tokio::time::timeout(Duration::from_secs(1), mailbox.alert.notified())
            .await
            .expect("overflow is signalled");
        assert!(mailbox.take_alerts().overflowed);
        assert_eq!(texts(&mailbox, 10), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_queue_is_full_at_its_byte_bound_too() {
        let mailbox = Mailbox::new(100, 10);
        assert_eq!(mailbox.push(Utf8Bytes::from("12345678")), Pushed::Queued);
        assert_eq!(mailbox.push(Utf8Bytes::from("123")), Pushed::Full, "11 bytes > 10");
        assert!(mailbox.take_alerts().overflowed);
        assert_eq!(texts(&mailbox, 10), ["12345678"]);
        // Taken frames no longer count.
        assert_eq!(mailbox.push(Utf8Bytes::from("1234567890")), Pushed::Queued);
    }

    #[tokio::test]
    async fn the_reader_is_told_when_its_reply_has_been_taken() {
        let mailbox = Mailbox::new(100, 1024);
        mailbox.push(Utf8Bytes::from("live"));
        let reply = mailbox.push_reply(Utf8Bytes::from("reply")).unwrap();
        mailbox.push(Utf8Bytes::from("later"));
        assert!(!mailbox.reply_taken(reply), "nothing taken yet");
        assert_eq!(texts(&mailbox, 1), ["live"]);
        let early = tokio::time::timeout(Duration::from_millis(50), mailbox.alert.notified()).await;
        assert!(early.is_err(), "woken before the reply was taken");
        assert_eq!(texts(&mailbox, 1), ["reply"]);
        tokio::time::timeout(Duration::from_secs(1), mailbox.alert.notified())
            .await
            .expect("taking the reply wakes the reader");
        assert!(mailbox.reply_taken(reply));
        assert_eq!(mailbox.take_alerts(), Alerts::default(), "it is not an alert");
    }

    #[test]
    fn a_drained_burst_gives_its_buffer_back_and_a_closed_box_takes_nothing() {
        let mailbox = Mailbox::new(1000, 1 << 20);
        for n in 0..500 {
            mailbox.push(Utf8Bytes::from(n.to_string()));
        }
        assert_eq!(texts(&mailbox, 1000).len(), 500);
        assert!(mailbox.queue().frames.capacity() <= KEEP_SLOTS);
        mailbox.close();
        assert_eq!(mailbox.push(Utf8Bytes::from("late")), Pushed::Closed);
        assert!(mailbox.pop().is_none());
    }

    #[tokio::test]
    async fn a_ping_wakes_the_writer_and_is_taken_once() {
        let mailbox = Mailbox::new(1, 1024);
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
        let mailbox = Mailbox::new(1, 1024);
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
