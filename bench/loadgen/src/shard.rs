//! Shards: the loadgen's worker threads, each a single-threaded tokio runtime that owns a
//! share of the connections and all of their bookkeeping.
//!
//! A busy run receives well over 100,000 frames a second on a core it shares with the
//! server, so the receive path takes no locks and touches no shared cache lines: each
//! shard keeps its own histograms, counters and per-connection delivery bitsets in a
//! thread-local, and the controller (the main thread) asks every shard for them at the
//! end of a step. The only shared writes are one atomic add per *sent* message (the
//! [`Book`]), which receivers read once per step to know what to expect.

use crate::stamp::Stamp;
use crate::stats;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::task::LocalPoolHandle;

/// The worker threads.
pub struct Shards {
    pool: LocalPoolHandle,
    pub count: usize,
}

impl Shards {
    pub fn new(count: usize) -> Self {
        let count = count.max(1);
        Self {
            pool: LocalPoolHandle::new(count),
            count,
        }
    }

    /// Runs `make()`'s future on shard `shard` (its future need not be `Send`).
    pub fn spawn<F, Fut, T>(&self, shard: usize, make: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        self.pool.spawn_pinned_by_idx(make, shard % self.count)
    }

    /// Runs `f` on every shard's thread and collects the answers, in shard order.
    pub async fn each<F, T>(&self, f: F) -> Result<Vec<T>>
    where
        F: Fn() -> T + Clone + Send + 'static,
        T: Send + 'static,
    {
        let handles: Vec<_> = (0..self.count)
            .map(|i| {
                let f = f.clone();
                self.spawn(i, move || async move { f() })
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.context("a shard task failed")?);
        }
        Ok(out)
    }
}

/// What was sent (and refused) per room in the current step, shared by all shards.
pub struct Book {
    pub step: AtomicU32,
    pub sent: Vec<AtomicU64>,
    /// Sends answered with an error: they will not be delivered.
    pub failed: Vec<AtomicU64>,
}

impl Book {
    pub fn new(rooms: usize) -> Self {
        Self {
            step: AtomicU32::new(0),
            sent: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            failed: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Called between steps, while nothing is being sent.
    pub fn reset(&self, step: u32) {
        self.step.store(step, Ordering::SeqCst);
        for c in self.sent.iter().chain(&self.failed) {
            c.store(0, Ordering::SeqCst);
        }
    }

    fn expected(&self, room_slot: usize) -> u64 {
        let sent = self.sent[room_slot].load(Ordering::Relaxed);
        sent.saturating_sub(self.failed[room_slot].load(Ordering::Relaxed))
    }
}

/// Counters of one step (summed over shards by the controller).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub sent: u64,
    pub acked: u64,
    /// Error frames, whatever they answered.
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    /// First receipts of this step's messages.
    pub delivered: u64,
    pub duplicates: u64,
    /// Messages (or acks) of an earlier step that arrived in this one.
    pub late: u64,
    /// Connections that ended while they should have stayed open.
    pub disconnects: u64,
    /// Sends of this step neither acked nor refused yet.
    pub pending_acks: i64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.acked += o.acked;
        self.errors += o.errors;
        for (k, v) in &o.error_codes {
            *self.error_codes.entry(k.clone()).or_default() += v;
        }
        self.delivered += o.delivered;
        self.duplicates += o.duplicates;
        self.late += o.late;
        self.disconnects += o.disconnects;
        self.pending_acks += o.pending_acks;
    }
}

/// One connection's receipts for the current step.
struct ConnRecord {
    room_slot: usize,
    /// Bit `idx` is set once message `idx` of the room arrived.
    seen: Vec<u64>,
    unique: u64,
}

/// Indices above this are not ours (a step never sends four billion messages to a room).
const MAX_IDX: u64 = 1 << 32;

struct ShardState {
    step: u32,
    conns: Vec<ConnRecord>,
    delivery: Histogram<u64>,
    ack: Histogram<u64>,
    lag: Histogram<u64>,
    counts: Counts,
    cpu_at_begin: Duration,
    /// Why connections ended, for the report (first few only).
    disconnect_reasons: Vec<String>,
}

impl ShardState {
    fn new() -> Self {
        Self {
            step: 0,
            conns: Vec::new(),
            delivery: stats::histogram(),
            ack: stats::histogram(),
            lag: stats::histogram(),
            counts: Counts::default(),
            cpu_at_begin: Duration::ZERO,
            disconnect_reasons: Vec::new(),
        }
    }
}

thread_local! {
    static STATE: RefCell<ShardState> = RefCell::new(ShardState::new());
}

fn with<T>(f: impl FnOnce(&mut ShardState) -> T) -> T {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Registers a connection of this shard; returns its local index.
pub fn register(room_slot: usize) -> usize {
    with(|s| {
        s.conns.push(ConnRecord {
            room_slot,
            seen: Vec::new(),
            unique: 0,
        });
        s.conns.len() - 1
    })
}

/// A stamped message arrived on connection `conn` at `now_ns`.
pub fn on_message(conn: usize, stamp: Stamp, now_ns: u64) {
    with(|s| {
        if stamp.step != s.step || stamp.idx >= MAX_IDX {
            s.counts.late += 1;
            return;
        }
        let Some(rec) = s.conns.get_mut(conn) else { return };
        let (word, bit) = ((stamp.idx / 64) as usize, stamp.idx % 64);
        if rec.seen.len() <= word {
            rec.seen.resize(word + 1, 0);
        }
        if rec.seen[word] & (1 << bit) != 0 {
            s.counts.duplicates += 1;
            return;
        }
        rec.seen[word] |= 1 << bit;
        rec.unique += 1;
        s.counts.delivered += 1;
        stats::record_ns(&mut s.delivery, now_ns.saturating_sub(stamp.sent_ns));
    })
}

/// A message of the current step went out `lag_ns` after its scheduled instant.
pub fn on_sent(lag_ns: u64) {
    with(|s| {
        s.counts.sent += 1;
        s.counts.pending_acks += 1;
        stats::record_ns(&mut s.lag, lag_ns);
    })
}

/// The send of step `step`, scheduled at `sent_ns`, was acknowledged.
pub fn on_ack(step: u32, sent_ns: u64, now_ns: u64) {
    with(|s| {
        if step != s.step {
            s.counts.late += 1;
            return;
        }
        s.counts.acked += 1;
        s.counts.pending_acks -= 1;
        stats::record_ns(&mut s.ack, now_ns.saturating_sub(sent_ns));
    })
}

/// An error frame; `step` is set when it answered one of our sends.
pub fn on_error(step: Option<u32>, code: &str) {
    with(|s| {
        s.counts.errors += 1;
        *s.counts.error_codes.entry(code.to_owned()).or_default() += 1;
        if step == Some(s.step) {
            s.counts.pending_acks -= 1;
        }
    })
}

/// A connection ended on its own.
pub fn on_disconnect(reason: String) {
    with(|s| {
        s.counts.disconnects += 1;
        if s.disconnect_reasons.len() < 5 {
            s.disconnect_reasons.push(reason);
        }
    })
}

/// Starts accounting for `step` on this shard: everything of the last step is forgotten.
pub fn begin(step: u32) {
    with(|s| {
        s.step = step;
        for c in &mut s.conns {
            c.seen.clear();
            c.unique = 0;
        }
        s.delivery.reset();
        s.ack.reset();
        s.lag.reset();
        s.counts = Counts::default();
        s.disconnect_reasons.clear();
        s.cpu_at_begin = stats::thread_cpu();
    })
}

/// Deliveries still missing plus sends still unanswered, on this shard.
pub fn outstanding(book: &Book) -> u64 {
    with(|s| {
        let missing: u64 = s
            .conns
            .iter()
            .map(|c| book.expected(c.room_slot).saturating_sub(c.unique))
            .sum();
        missing + u64::try_from(s.counts.pending_acks.max(0)).unwrap_or(0)
    })
}

/// One shard's account of a step.
pub struct ShardReport {
    pub counts: Counts,
    pub delivery: Histogram<u64>,
    pub ack: Histogram<u64>,
    pub lag: Histogram<u64>,
    /// Deliveries that never came.
    pub lost: u64,
    pub expected: u64,
    /// CPU this shard's thread used during the step.
    pub cpu: Duration,
    pub disconnect_reasons: Vec<String>,
}

pub fn finish(book: &Book) -> ShardReport {
    with(|s| {
        let mut lost = 0;
        let mut expected = 0;
        for c in &s.conns {
            let want = book.expected(c.room_slot);
            expected += want;
            lost += want.saturating_sub(c.unique);
        }
        ShardReport {
            counts: s.counts.clone(),
            delivery: s.delivery.clone(),
            ack: s.ack.clone(),
            lag: s.lag.clone(),
            lost,
            expected,
            cpu: stats::thread_cpu().saturating_sub(s.cpu_at_begin),
            disconnect_reasons: s.disconnect_reasons.clone(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(step: u32, idx: u64) -> Stamp {
        Stamp { step, idx, sent_ns: 0 }
    }

    #[test]
    fn each_member_must_receive_each_message_once() {
        // Thread-local state: this test owns its thread.
        let book = Book::new(2);
        book.reset(1);
        begin(1);
        let a = register(0);
        let b = register(0);
        let c = register(1);
        book.sent[0].store(3, Ordering::SeqCst);
        book.sent[1].store(1, Ordering::SeqCst);
        book.failed[1].store(1, Ordering::SeqCst);
        for idx in 0..3 {
            on_message(a, stamp(1, idx), 1_000_000);
        }
        on_message(b, stamp(1, 0), 1_000_000);
        on_message(b, stamp(1, 0), 1_000_000);
        on_message(b, stamp(0, 1), 1_000_000);
        assert_eq!(outstanding(&book), 2);
        let report = finish(&book);
        assert_eq!(
            report.expected, 6,
            "3 + 3 in room 0, the refused one in room 1 is not expected"
        );
        assert_eq!(report.lost, 2);
        assert_eq!(report.counts.delivered, 4);
        assert_eq!(report.counts.duplicates, 1);
        assert_eq!(report.counts.late, 1);
        assert_eq!(report.delivery.len(), 4);
        let _ = c;
    }

    #[test]
    fn acks_and_errors_settle_pending_sends_of_the_current_step_only() {
        begin(2);
        on_sent(5_000);
        on_sent(6_000);
        on_sent(7_000);
        on_ack(2, 0, 1_000_000);
        on_error(Some(2), "rate_limited");
        on_ack(1, 0, 1_000_000);
        let report = finish(&Book::new(0));
        assert_eq!(report.counts.sent, 3);
        assert_eq!(report.counts.acked, 1);
        assert_eq!(report.counts.pending_acks, 1);
        assert_eq!(report.counts.late, 1);
        assert_eq!(report.counts.error_codes.get("rate_limited"), Some(&1));
        assert_eq!(report.lag.len(), 3);
    }
}
