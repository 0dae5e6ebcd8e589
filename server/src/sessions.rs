//! Open sockets end with their sessions. Every `session_recheck` this node
//! asks the database, in one query per thousand sessions, which of its
//! sockets' sessions are still live, and tells the sockets of those that
//! ended (logout on any node, expiry, a disabled account) to close. One query
//! per node per round, rather than one per socket, keeps 10,000 idle sockets
//! from costing 2,000 queries a second. Since it knows every open socket,
//! it also tells them all when the server starts shutting down.

use crate::hub::ConnId;
use crate::mailbox::Mailbox;
use app::backend::Accounts;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Sessions checked per query.
const CHUNK: usize = 1000;

/// session token → the sockets opened with it, each with its mailbox (told when the session ends).
type Watched = HashMap<String, HashMap<ConnId, Arc<Mailbox>>>;

#[derive(Default)]
pub struct SessionWatch {
    watched: Mutex<Watched>,
    /// Wakes the re-check loop before its next round.
    recheck: tokio::sync::Notify,
}

/// A socket's registration; dropping it stops the watch.
pub struct Watching {
    watch: Arc<SessionWatch>,
    token: String,
    conn: ConnId,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut watched = self.watch.watched();
        if let Some(conns) = watched.get_mut(&self.token) {
            conns.remove(&self.conn);
            if conns.is_empty() {
                watched.remove(&self.token);
            }
        }
    }
}

impl SessionWatch {
    fn watched(&self) -> MutexGuard<'_, Watched> {
        // Every critical section is a single map edit: a poisoned lock holds consistent data.
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches the session `token` on behalf of socket `conn`, whose
    /// mailbox is alerted when the session ends.
    pub fn watch(self: &Arc<Self>, token: String, conn: ConnId, mailbox: Arc<Mailbox>) -> Watching {
        self.watched().entry(token.clone()).or_default().insert(conn, mailbox);
        Watching {
            watch: self.clone(),
            token,
            conn,
        }
    }

    /// Tells every watched socket on this node that the server is stopping.
    pub fn shut_down_all(&self) {
        for mailbox in self.watched().values().flat_map(HashMap::values) {
            mailbox.shut_down();
        }
    }

    /// Re-checks every watched session now rather than at the next round
    /// (a wake-up asked for during a round starts another right after it).
    pub fn recheck_now(&self) {
        self.recheck.notify_one();
    }

    /// Checks every watched session each `every` (and when asked to by
    /// [`SessionWatch::recheck_now`]), until the process stops.
    pub async fn run(&self, accounts: Accounts, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.recheck.notified() => {}
            }
            let tokens: Vec<String> = self.watched().keys().cloned().collect();
            for chunk in tokens.chunks(CHUNK) {
                let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
                match accounts.live_tokens(&chunk).await {
                    Ok(live) => {
                        let watched = self.watched();
                        for token in chunk.iter().filter(|t| !live.contains(*t)) {
                            for mailbox in watched.get(*token).into_iter().flat_map(HashMap::values) {
                                mailbox.end_session();
                            }
                        }
                    }
                    // A database hiccup is not a reason to drop everyone.
                    Err(e) => tracing::warn!(error = %e, "session re-check failed; keeping the sockets"),
                }
            }
        }
    }
}
