//! Group commit: every message this node posts goes through one writer task,
//! which commits whatever has queued up while the previous transaction ran
//! as one multi-row transaction (see [`Store::post_batch`]), then hands the
//! new messages to the [`Publisher`] in commit order: one task publishing
//! them is what keeps a room's live stream in sequence order (when each
//! sender's connection published its own, they raced each other).
//!
//! A commit per message caps near a few hundred messages per second (each
//! waits for its own fsync); a batch pays one fsync for all of its messages,
//! so throughput grows with the number of concurrent senders while a lone
//! sender still waits for just one commit. Every sender is acknowledged only
//! after the transaction holding its message committed, and sequences stay
//! gap-free: they are assigned under the rooms' row locks inside it.
//!
//! Changes to messages (edits, deletions, reactions) go through the same
//! task and the same transaction, after the batch's messages, so that
//! everything this node logs is published in commit order and a change
//! costs no commit of its own.

use super::error::BackendError;
use super::events::{Publisher, RoomEvent};
use super::store::{Applied, NewMessage, NewUpdate, Posted, Store};
use tokio::sync::{mpsc, oneshot};

/// Most messages in one transaction (7 bound values each: far below the
/// databases' limits on placeholders per statement).
pub const MAX_BATCH: usize = 1000;
/// Posts waiting for the writer; beyond this senders wait for room in the queue.
const QUEUE: usize = 8 * MAX_BATCH;

type Result<T> = std::result::Result<T, BackendError>;

/// What a writer commits, and where its outcome goes.
enum Job {
    Post(NewMessage, oneshot::Sender<Result<Posted>>),
    Update(NewUpdate, oneshot::Sender<Result<Applied>>),
}

/// The handle senders post through. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store, publisher: std::sync::Arc<dyn Publisher>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, publisher, queue));
        Self { jobs }
    }

    /// Commits `message` (or finds the original, for a retried client id)
    /// and returns once it is durable.
    pub async fn post(&self, message: NewMessage) -> Result<Posted> {
        self.submit(message).await?.await
    }

    /// Queues `message` for the next transaction (waiting only for room in
    /// the queue) and returns what resolves once it is durable. Lets one
    /// sender have several messages in flight, in order.
    pub async fn submit(&self, message: NewMessage) -> Result<impl Future<Output = Result<Posted>> + Send + 'static> {
        let (done, outcome) = oneshot::channel();
        self.jobs.send(Job::Post(message, done)).await.map_err(|_| stopped())?;
        Ok(async move { outcome.await.map_err(|_| stopped())? })
    }

    /// As [`Writer::submit`], for a change to a message.
    pub async fn submit_update(
        &self,
        update: NewUpdate,
    ) -> Result<impl Future<Output = Result<Applied>> + Send + 'static> {
        let (done, outcome) = oneshot::channel();
        self.jobs.send(Job::Update(update, done)).await.map_err(|_| stopped())?;
        Ok(async move { outcome.await.map_err(|_| stopped())? })
    }

    /// Commits `update` and returns once it is durable.
    pub async fn update(&self, update: NewUpdate) -> Result<Applied> {
        self.submit_update(update).await?.await
    }
}

fn stopped() -> BackendError {
    BackendError::Unavailable("the message writer has stopped".into())
}

async fn run(store: Store, publisher: std::sync::Arc<dyn Publisher>, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // Waits for the first job, then takes everything else already queued.
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (mut messages, mut replies) = (Vec::new(), Vec::new());
        let (mut updates, mut update_replies) = (Vec::new(), Vec::new());
        for job in jobs.drain(..) {
            match job {
                Job::Post(message, done) => {
                    messages.push(message);
                    replies.push(done);
                }
                Job::Update(update, done) => {
                    updates.push(update);
                    update_replies.push(done);
                }
            }
        }
        let started = std::time::Instant::now();
        let (posted, applied) = commit(&store, &messages, &updates).await;
        tracing::debug!(
            messages = messages.len(),
            changes = updates.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "batch committed"
        );
        // A retried client id finds its original, which was published when
        // it was first committed: only fresh events go out, messages first
        // (their sequences come first in each room).
        let fresh_posts = posted.iter().filter_map(|outcome| match outcome {
            Ok(p) if p.fresh => Some(RoomEvent::Posted(p.message.clone())),
            _ => None,
        });
        let fresh_changes = applied.iter().filter_map(|outcome| match outcome {
            Ok(Applied {
                update: Some(update),
                fresh: true,
            }) => Some(RoomEvent::Updated(update.clone())),
            _ => None,
        });
        let fresh: Vec<RoomEvent> = fresh_posts.chain(fresh_changes).collect();
        if !fresh.is_empty() {
            // Queued in order by the call itself; the future says when every
            // node has them, which the next commit does not wait for.
            drop(publisher.publish(fresh));
        }
        // The sender may have gone (its socket closed); what it sent stays committed.
        for (reply, outcome) in replies.into_iter().zip(posted) {
            let _ = reply.send(outcome);
        }
        for (reply, outcome) in update_replies.into_iter().zip(applied) {
            let _ = reply.send(outcome);
        }
    }
}

/// The outcomes of a batch: one per message and one per change, in order.
type Outcomes = (Vec<Result<Posted>>, Vec<Result<Applied>>);

/// One outcome per message and per change, in order.
async fn commit(store: &Store, messages: &[NewMessage], updates: &[NewUpdate]) -> Outcomes {
    match store.commit_batch(messages, updates).await {
        Ok(outcomes) => outcomes,
        // Another node committed one of these client ids (or the rooms were
        // locked in an order that deadlocked) while this batch ran: the batch
        // rolled back whole, so commit its messages and changes one by one
        // instead, each with its own retry handling.
        Err(e) if e.is_unique_violation() || e.is_deadlock() => {
            tracing::debug!(
                error = %e,
                messages = messages.len(),
                changes = updates.len(),
                "batch rolled back; committing one by one"
            );
            let mut posted = Vec::with_capacity(messages.len());
            for m in messages {
                posted.push(store.post_message(m).await);
            }
            let mut applied = Vec::with_capacity(updates.len());
            for u in updates {
                applied.push(store.apply_update(u).await);
            }
            (posted, applied)
        }
        Err(e) => {
            tracing::error!(error = %e, messages = messages.len(), changes = updates.len(), "batch failed");
            let reason = e.to_string();
            let failed = || BackendError::Unavailable(reason.clone());
            (
                messages.iter().map(|_| Err(failed())).collect(),
                updates.iter().map(|_| Err(failed())).collect(),
            )
        }
    }
}
