//! One simulated member: a socket joined to one room that ticks off every stamped message
//! it receives and, if it is one of the room's senders, sends on a fixed schedule.
//!
//! The schedule is open loop: message `idx` of a step is due at `start + (idx + phase) ×
//! period`, whatever happened to earlier ones. A sender that falls behind sends everything
//! overdue at once (burst) and the lateness is recorded as schedule lag, so a slow server
//! shows up as latency rather than as a politely reduced offered load.

use crate::shard;
use crate::stamp::{self, Stamp};
use crate::target::{Incoming, Target, Ws};
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

/// How early a message may go. Tokio's timer fires on the millisecond tick after the
/// deadline, so waking a tick ahead and sending what is due within it keeps sends on time
/// instead of ~1 ms late on average (which would be added to every latency).
const EARLY_NS: u64 = 1_000_000;

/// What the controller wants the senders to do now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plan {
    /// Connected, not sending.
    Hold,
    Send(StepPlan),
    /// Close the socket and end.
    Stop,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepPlan {
    pub step: u32,
    /// Nanoseconds since [`stamp::base`] at which the step's schedule starts and ends.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Interval between two messages into the same room.
    pub room_period_ns: f64,
}

/// Which share of its room's schedule a sender owns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SenderRole {
    /// This sender takes the room's messages `slot`, `slot + of`, `slot + 2·of`, …
    pub slot: u64,
    pub of: u64,
    /// Offset of the room's schedule, in periods (0..1), so rooms do not all fire at once.
    pub phase: f64,
}

impl SenderRole {
    /// The room-wide index and due instant of this sender's `k`-th message in `plan`.
    pub fn due(&self, plan: &StepPlan, k: u64) -> (u64, u64) {
        let idx = k * self.of + self.slot;
        let offset = (idx as f64 + self.phase) * plan.room_period_ns;
        (idx, plan.start_ns + offset as u64)
    }
}

/// Everything one connection needs, built by the controller.
pub struct ConnSpec {
    pub target: Arc<Target>,
    pub credential: Arc<str>,
    pub room: i64,
    pub room_slot: usize,
    pub sender: Option<SenderRole>,
    /// Client-id prefix: unique per run and connection (`<nonce>-<conn>-`).
    pub tag: String,
    pub body_bytes: usize,
    /// Every this-many-th frame this sender sends is a change to its last message
    /// instead of a message (0: none; Natter only).
    pub changes_every: u64,
    pub book: Arc<shard::Book>,
    pub plan: watch::Receiver<Plan>,
    /// Bounds how many sockets are being opened at once.
    pub gate: Arc<Semaphore>,
}

/// Opens the socket, reports readiness, then serves it until [`Plan::Stop`].
pub async fn run(spec: ConnSpec, ready: oneshot::Sender<anyhow::Result<()>>) {
    let opened = {
        let Ok(_permit) = spec.gate.acquire().await else { return };
        spec.target.open(&spec.credential, spec.room).await
    };
    let ws = match opened {
        Ok(ws) => ws,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let index = shard::register(spec.room_slot);
    let _ = ready.send(Ok(()));
    Conn {
        next_key: spec.target.first_send_key(),
        spec,
        index,
        pending: VecDeque::new(),
        last_message: None,
        changes: 0,
    }
    .serve(ws)
    .await;
}

/// A send waiting for its ack.
struct Pending {
    key: u64,
    step: u32,
    sent_ns: u64,
    /// A change, not a message: nobody waits for its delivery.
    change: bool,
}

struct Conn {
    spec: ConnSpec,
    /// This connection's index in its shard.
    index: usize,
    next_key: u64,
    /// Unanswered sends, oldest first (servers answer in order, so the match is at the front).
    pending: VecDeque<Pending>,
    /// The id of this sender's last acknowledged message: what its changes change.
    last_message: Option<i64>,
    /// Changes sent so far: picks the next kind in turn.
    changes: u64,
}

/// An active schedule: the plan and this sender's next message in it.
struct Schedule {
    plan: StepPlan,
    k: u64,
}

impl Conn {
    async fn serve(mut self, mut ws: Ws) {
        // The wait for a new plan lives across loop turns: re-creating it per received
        // frame would register and drop a waiter on the shared channel every time.
        let mut next_plan = Box::pin(wait_for_plan(self.spec.plan.clone()));
        let mut schedule: Option<Schedule> = None;
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                changed = &mut next_plan => {
                    let Some((plan, rx)) = changed else {
                        return; // the controller is gone
                    };
                    next_plan = Box::pin(wait_for_plan(rx));
                    match plan {
                        Plan::Stop => {
                            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                            return;
                        }
                        Plan::Hold => schedule = None,
                        Plan::Send(plan) => {
                            if let Some(role) = self.spec.sender {
                                let (_, due) = role.due(&plan, 0);
                                sleep.as_mut().reset(instant(due.saturating_sub(EARLY_NS)));
                                schedule = Some(Schedule { plan, k: 0 });
                            }
                        }
                    }
                }
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(frame))) => {
                            return shard::on_disconnect(format!("closed by the server: {frame:?}"));
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return shard::on_disconnect(format!("read error: {e}")),
                        None => return shard::on_disconnect("the socket ended".into()),
                    };
                    if let Err(e) = self.on_frame(&mut ws, text.as_bytes()).await {
                        return shard::on_disconnect(format!("write error: {e}"));
                    }
                }
                () = &mut sleep, if schedule.is_some() => {
                    match self.send_due(&mut ws, &mut schedule).await {
                        Ok(Some(next)) => sleep.as_mut().reset(instant(next)),
                        Ok(None) => schedule = None,
                        Err(e) => return shard::on_disconnect(format!("write error: {e}")),
                    }
                }
            }
        }
    }

    async fn on_frame(&mut self, ws: &mut Ws, frame: &[u8]) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        match self.spec.target.classify(frame) {
            Incoming::Message(stamp) => shard::on_message(self.index, stamp, stamp::now_ns()),
            Incoming::Ack(key) => {
                if let Some(p) = self.take_pending(key) {
                    shard::on_ack(p.step, p.sent_ns, stamp::now_ns());
                    if self.spec.changes_every > 0 && !p.change {
                        self.last_message = crate::natter::ack_id(frame).or(self.last_message);
                    }
                }
            }
            Incoming::Error { key, code } => {
                let answered = key.and_then(|k| self.take_pending(k));
                if let Some(p) = &answered
                    && !p.change
                    && p.step == self.spec.book.step.load(Ordering::Relaxed)
                {
                    // Refused: its members must not wait for it.
                    self.spec.book.failed[self.spec.room_slot].fetch_add(1, Ordering::Relaxed);
                }
                shard::on_error(answered.map(|p| p.step), &code);
            }
            Incoming::Ping => ws.send(Message::text(crate::peer::PONG)).await?,
            Incoming::Other => {}
        }
        Ok(())
    }

    fn take_pending(&mut self, key: u64) -> Option<Pending> {
        if self.pending.front().is_some_and(|p| p.key == key) {
            return self.pending.pop_front();
        }
        let at = self.pending.iter().position(|p| p.key == key)?;
        self.pending.remove(at)
    }

    /// Sends every message that is due (or due within [`EARLY_NS`]); returns when to wake
    /// for the next one, or `None` when the step's schedule is done.
    async fn send_due(
        &mut self,
        ws: &mut Ws,
        schedule: &mut Option<Schedule>,
    ) -> Result<Option<u64>, tokio_tungstenite::tungstenite::Error> {
        let Some(role) = self.spec.sender else { return Ok(None) };
        let now_ns = stamp::now_ns();
        let mut next = None;
        let mut fed = false;
        while let Some(s) = schedule.as_mut() {
            let (idx, due) = role.due(&s.plan, s.k);
            if due >= s.plan.end_ns {
                break;
            }
            if due > now_ns + EARLY_NS {
                next = Some(due - EARLY_NS);
                break;
            }
            // Stamped with the later of due and now: a late send is charged its lateness,
            // an early one is measured from when it really left.
            let sent_ns = due.max(now_ns);
            let mut frame = String::with_capacity(self.spec.body_bytes + 160);
            let stamp = Stamp {
                step: s.plan.step,
                idx,
                sent_ns,
            };
            let key = self.next_key;
            let every = self.spec.changes_every;
            let change = match self.last_message {
                Some(message) if every > 0 && (s.k + 1).is_multiple_of(every) => Some(message),
                _ => None,
            };
            match change {
                Some(message) => {
                    crate::natter::change_frame(&mut frame, self.spec.room, &self.spec.tag, key, message, self.changes);
                    self.changes += 1;
                }
                None => self.spec.target.send_frame(
                    &mut frame,
                    self.spec.room,
                    &self.spec.tag,
                    key,
                    stamp,
                    self.spec.body_bytes,
                ),
            }
            ws.feed(Message::text(frame)).await?;
            fed = true;
            self.next_key += 1;
            self.pending.push_back(Pending {
                key,
                step: s.plan.step,
                sent_ns,
                change: change.is_some(),
            });
            if change.is_none() {
                self.spec.book.sent[self.spec.room_slot].fetch_add(1, Ordering::Relaxed);
            }
            shard::on_sent(now_ns.saturating_sub(due));
            s.k += 1;
        }
        if fed {
            ws.flush().await?;
        }
        Ok(next)
    }
}

/// The next plan, and the receiver back to wait for the one after; `None` once the
/// controller has gone.
async fn wait_for_plan(mut rx: watch::Receiver<Plan>) -> Option<(Plan, watch::Receiver<Plan>)> {
    rx.changed().await.ok()?;
    let plan = *rx.borrow_and_update();
    Some((plan, rx))
}

fn instant(ns: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(stamp::instant_at(ns))
}

/// Nanoseconds since the stamp base, `lead` from now: when a step's schedule starts.
pub fn start_after(lead: Duration) -> u64 {
    stamp::ns_since_base(Instant::now() + lead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_of_a_room_interleave_on_one_schedule() {
        let plan = StepPlan {
            step: 1,
            start_ns: 1_000,
            end_ns: 1_000_000,
            room_period_ns: 100.0,
        };
        let a = SenderRole {
            slot: 0,
            of: 2,
            phase: 0.5,
        };
        let b = SenderRole { slot: 1, ..a };
        assert_eq!(a.due(&plan, 0), (0, 1_050));
        assert_eq!(b.due(&plan, 0), (1, 1_150));
        assert_eq!(a.due(&plan, 1), (2, 1_250));
        assert_eq!(b.due(&plan, 3), (7, 1_750));
    }
}
