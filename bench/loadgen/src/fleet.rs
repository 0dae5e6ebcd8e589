//! The fleet: every simulated connection of a run, spread over the shards, and the step
//! driver that offers one rate for a while and then collects what happened.
//!
//! Layout: connection `c` joins room `c % rooms` as member `c / rooms` and belongs to user
//! `c / conns_per_user`, so a user's sockets sit in different rooms (as a person with
//! several tabs would) and a room's members are mostly different users. The first
//! `senders` members of each room send.

use crate::cli::Common;
use crate::conn::{self, ConnSpec, Plan, SenderRole, StepPlan};
use crate::procfs::{Reading, Usage, Watched};
use crate::shard::{self, Book, Counts, Shards};
use crate::stamp;
use crate::stats::{self, Summary};
use crate::target::Target;
use crate::users;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, oneshot, watch};

/// The shape of a fleet.
#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    pub rooms: usize,
    pub members: usize,
    pub senders: usize,
    pub conns_per_user: usize,
    pub body_bytes: usize,
    /// Every this-many-th frame of a sender is a change to its last message (0: none).
    pub changes_every: u64,
}

impl Layout {
    pub fn connections(&self) -> usize {
        self.rooms * self.members
    }
    pub fn users(&self) -> usize {
        self.connections().div_ceil(self.conns_per_user.max(1))
    }
}

pub struct Fleet {
    pub shards: Shards,
    pub layout: Layout,
    pub watched: Watched,
    /// The watched processes just before the first socket opened.
    pub before_sockets: Reading,
    plan: watch::Sender<Plan>,
    book: Arc<Book>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Limits that make a step invalid because the loadgen, not the server, was the limit.
    pub max_shard_busy: f64,
    pub max_lag_ms: f64,
}

impl Fleet {
    /// Logs the users in, finds the rooms, and opens and joins every connection.
    pub async fn open(common: &Common, target: Arc<Target>, layout: Layout, room_suffix: &str) -> Result<Self> {
        if layout.senders > layout.members {
            bail!(
                "--senders ({}) cannot exceed --members ({})",
                layout.senders,
                layout.members
            );
        }
        let shards = Shards::new(common.threads);
        let credentials = users::credentials(
            &target,
            &common.user_prefix,
            layout.users(),
            common.login_concurrency,
            common.session_cache_path(&target).as_deref(),
        )
        .await?;
        let names: Vec<String> = (0..layout.rooms)
            .map(|i| format!("{}-{room_suffix}{i}", common.room_prefix))
            .collect();
        let first = credentials.first().context("no users")?;
        let rooms = target.rooms(first, &names, common.peer_room_base).await?;
        let (plan, plan_rx) = watch::channel(Plan::Hold);
        let book = Arc::new(Book::new(layout.rooms));
        let watched = common.watched();
        let before_sockets = watched.read();
        let gate = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
        let nonce = stamp::run_nonce();
        let total = layout.connections();
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        let mut readies = Vec::with_capacity(total);
        for c in 0..total {
            let room_slot = c % layout.rooms;
            let member = c / layout.rooms;
            let sender = (member < layout.senders).then(|| SenderRole {
                slot: member as u64,
                of: layout.senders as u64,
                phase: room_slot as f64 / layout.rooms as f64,
            });
            let spec = ConnSpec {
                target: target.clone(),
                credential: credentials[c / layout.conns_per_user.max(1)].clone(),
                room: rooms[room_slot],
                room_slot,
                sender,
                tag: format!("{nonce}-{c}-"),
                body_bytes: layout.body_bytes,
                changes_every: layout.changes_every,
                book: book.clone(),
                plan: plan_rx.clone(),
                gate: gate.clone(),
            };
            let (ready_tx, ready_rx) = oneshot::channel();
            tasks.push(shards.spawn(c, move || conn::run(spec, ready_tx)));
            readies.push(ready_rx);
        }
        let mut failures = Vec::new();
        for (i, ready) in readies.into_iter().enumerate() {
            match ready.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("{e:#}")),
                Err(_) => failures.push("connection task ended before it was ready".into()),
            }
            if (i + 1) % 1000 == 0 {
                eprintln!("  {} sockets open ({:.0?})", i + 1, started.elapsed());
            }
        }
        if !failures.is_empty() {
            let _ = plan.send(Plan::Stop);
            bail!(
                "{} of {total} sockets failed to open; first: {}",
                failures.len(),
                failures[0]
            );
        }
        eprintln!(
            "fleet: {total} sockets in {} rooms open and joined in {:.1?} ({} shard threads)",
            layout.rooms,
            started.elapsed(),
            shards.count
        );
        Ok(Self {
            shards,
            layout,
            watched,
            before_sockets,
            plan,
            book,
            tasks,
            max_shard_busy: common.max_loadgen_cpu_pct / 100.0,
            max_lag_ms: common.max_lag_ms,
        })
    }

    /// Offers `rate` messages/s (spread evenly over the rooms) for `secs`, waits up to
    /// `grace` for the stragglers, and reports the step. `during` runs alongside the
    /// sending window (the login storm) and its output is returned with the step.
    pub async fn step<F, T>(
        &self,
        step: u32,
        rate: f64,
        secs: f64,
        grace: Duration,
        during: F,
    ) -> Result<(StepResult, T)>
    where
        F: std::future::Future<Output = T>,
    {
        if rate <= 0.0 {
            bail!("the rate must be positive");
        }
        self.book.reset(step);
        self.shards.each(move || shard::begin(step)).await?;
        let before = self.watched.read();
        let cpu_before = stats::process_cpu();
        let wall = Instant::now();
        let start_ns = conn::start_after(Duration::from_millis(50));
        let end_ns = start_ns + (secs * 1e9) as u64;
        let room_period_ns = 1e9 * self.layout.rooms as f64 / rate;
        let _ = self.plan.send(Plan::Send(StepPlan {
            step,
            start_ns,
            end_ns,
            room_period_ns,
        }));
        let window = async {
            tokio::time::sleep_until(tokio::time::Instant::from_std(stamp::instant_at(end_ns))).await;
        };
        let (_, extra) = tokio::join!(window, during);
        let _ = self.plan.send(Plan::Hold);
        let settle_deadline = Instant::now() + grace;
        loop {
            let book = self.book.clone();
            let left: u64 = self.shards.each(move || shard::outstanding(&book)).await?.iter().sum();
            if left == 0 || Instant::now() >= settle_deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = self.watched.read();
        let cpu = stats::process_cpu().saturating_sub(cpu_before);
        let elapsed = wall.elapsed();
        let book = self.book.clone();
        let reports = self.shards.each(move || shard::finish(&book)).await?;
        Ok((
            self.summarise(step, rate, secs, elapsed, cpu, &before, &after, reports),
            extra,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn summarise(
        &self,
        step: u32,
        rate: f64,
        secs: f64,
        elapsed: Duration,
        cpu: Duration,
        before: &Reading,
        after: &Reading,
        reports: Vec<shard::ShardReport>,
    ) -> StepResult {
        let mut counts = Counts::default();
        let (mut delivery, mut ack, mut lag) = (stats::histogram(), stats::histogram(), stats::histogram());
        let (mut lost, mut expected) = (0, 0);
        let mut shard_busy = Vec::new();
        let mut disconnect_reasons = Vec::new();
        for r in &reports {
            counts.add(&r.counts);
            stats::merge(&mut delivery, &r.delivery);
            stats::merge(&mut ack, &r.ack);
            stats::merge(&mut lag, &r.lag);
            lost += r.lost;
            expected += r.expected;
            shard_busy.push(r.cpu.as_secs_f64() / elapsed.as_secs_f64().max(1e-9));
            disconnect_reasons.extend(r.disconnect_reasons.iter().cloned());
        }
        let server = before.server_until(after);
        let per = |cpu_s: f64, n: u64| if n == 0 { 0.0 } else { cpu_s * 1e6 / n as f64 };
        let latency = Summary::of(&delivery);
        let ack_latency = Summary::of(&ack);
        let schedule_lag = Summary::of(&lag);
        let max_busy = shard_busy.iter().copied().fold(0.0, f64::max);
        let mut invalid = Vec::new();
        if max_busy > self.max_shard_busy {
            invalid.push(format!(
                "loadgen-bound: a shard thread was {:.0}% busy (limit {:.0}%)",
                max_busy * 100.0,
                self.max_shard_busy * 100.0
            ));
        }
        if schedule_lag.p99_ms > self.max_lag_ms {
            // A thread that is late without being busy was kept off the CPU by others.
            let why = if max_busy < 0.5 {
                ", starved of CPU by other processes"
            } else {
                ""
            };
            invalid.push(format!(
                "loadgen-bound: schedule lag p99 {:.1} ms (limit {:.1} ms){why}",
                schedule_lag.p99_ms, self.max_lag_ms
            ));
        }
        StepResult {
            step,
            attempt: 1,
            offered_per_s: rate,
            secs,
            sent: counts.sent,
            acked: counts.acked,
            acked_per_s: counts.acked as f64 / secs,
            expected_deliveries: expected,
            delivered: counts.delivered,
            delivered_per_s: counts.delivered as f64 / secs,
            lost,
            unacked: u64::try_from(counts.pending_acks.max(0)).unwrap_or(0),
            duplicates: counts.duplicates,
            late: counts.late,
            errors: counts.errors,
            error_codes: counts.error_codes.clone(),
            disconnects: counts.disconnects,
            disconnect_reasons,
            latency,
            ack_latency,
            schedule_lag,
            loadgen: LoadgenUsage {
                cpu_s: cpu.as_secs_f64(),
                cores: cpu.as_secs_f64() / elapsed.as_secs_f64().max(1e-9),
                max_shard_busy: max_busy,
                rss_mib: crate::procfs::own_rss_mib(),
            },
            server_cpu_us_per_delivered: server.as_ref().map(|s| per(s.cpu_s, counts.delivered)),
            server_cpu_us_per_acked: server.as_ref().map(|s| per(s.cpu_s, counts.acked)),
            server,
            others: before.others_until(after).into_iter().collect(),
            machine_busy_cores: before.machine_busy_cores_until(after),
            valid: invalid.is_empty(),
            invalid_reasons: invalid,
            pass: false,
            fail_reasons: Vec::new(),
        }
    }

    /// Sockets that dropped since the last step began, with a few of the reasons.
    pub async fn dropped(&self) -> Result<(u64, Vec<String>)> {
        let book = self.book.clone();
        let reports = self.shards.each(move || shard::finish(&book)).await?;
        Ok((
            reports.iter().map(|r| r.counts.disconnects).sum(),
            reports.into_iter().flat_map(|r| r.disconnect_reasons).collect(),
        ))
    }

    /// Closes every socket and waits (briefly) for the tasks to end.
    pub async fn close(self) {
        let _ = self.plan.send(Plan::Stop);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for task in self.tasks {
            let _ = tokio::time::timeout_at(deadline, task).await;
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadgenUsage {
    /// CPU seconds of the whole loadgen process during the step.
    pub cpu_s: f64,
    /// Average cores the loadgen kept busy.
    pub cores: f64,
    /// The busiest shard thread's share of one core (0..1).
    pub max_shard_busy: f64,
    pub rss_mib: f64,
}

/// Everything measured in one step.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepResult {
    pub step: u32,
    /// 1, or 2+ when the same rate was run again after failing on latency alone.
    pub attempt: u32,
    /// Messages per second offered (all rooms together).
    pub offered_per_s: f64,
    pub secs: f64,
    pub sent: u64,
    pub acked: u64,
    pub acked_per_s: f64,
    pub expected_deliveries: u64,
    pub delivered: u64,
    pub delivered_per_s: f64,
    pub lost: u64,
    pub unacked: u64,
    pub duplicates: u64,
    pub late: u64,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    pub disconnects: u64,
    pub disconnect_reasons: Vec<String>,
    /// Send (scheduled) → receipt at each member.
    pub latency: Summary,
    /// Send (scheduled) → ack at the sender.
    pub ack_latency: Summary,
    /// How late the loadgen sent, compared with the schedule.
    pub schedule_lag: Summary,
    pub loadgen: LoadgenUsage,
    pub server: Option<Usage>,
    pub server_cpu_us_per_delivered: Option<f64>,
    pub server_cpu_us_per_acked: Option<f64>,
    pub others: BTreeMap<String, Usage>,
    /// Cores busy on the whole machine during the step (server, database, loadgen and
    /// anything else running): near the core count, every number is suspect.
    pub machine_busy_cores: Option<f64>,
    /// False when the loadgen itself was the bottleneck: the numbers say nothing then.
    pub valid: bool,
    pub invalid_reasons: Vec<String>,
    pub pass: bool,
    pub fail_reasons: Vec<String>,
}

/// What a step must show to pass.
#[derive(Clone, Copy, Debug)]
pub enum Criterion {
    /// Every member got every message, p99 delivery latency within the limit.
    Delivery { p99_ms: f64 },
    /// Every send acked, p99 ack latency within the limit (and nothing lost).
    Ack { p99_ms: f64 },
}

impl StepResult {
    /// Fills `pass` and `fail_reasons`.
    pub fn judge(&mut self, criterion: Criterion) {
        let mut why = Vec::new();
        if self.lost > 0 {
            why.push(format!("{} deliveries lost", self.lost));
        }
        if self.errors > 0 {
            why.push(format!("{} error frames {:?}", self.errors, self.error_codes));
        }
        if self.disconnects > 0 {
            why.push(format!("{} sockets dropped", self.disconnects));
        }
        if self.duplicates > 0 {
            why.push(format!("{} duplicate deliveries", self.duplicates));
        }
        if self.unacked > 0 {
            why.push(format!("{} sends never acked", self.unacked));
        }
        match criterion {
            Criterion::Delivery { p99_ms } if self.latency.p99_ms > p99_ms => {
                why.push(format!("p99 {:.1} ms > {p99_ms} ms", self.latency.p99_ms));
            }
            Criterion::Ack { p99_ms } if self.ack_latency.p99_ms > p99_ms => {
                why.push(format!("ack p99 {:.1} ms > {p99_ms} ms", self.ack_latency.p99_ms));
            }
            _ => {}
        }
        if self.sent == 0 {
            why.push("nothing was sent".into());
        }
        self.pass = why.is_empty() && self.valid;
        self.fail_reasons = why;
    }

    /// A valid step that failed only because its p99 was over the limit: everything sent
    /// was acked and delivered, once. Such a failure can be one stall of the machine (a
    /// slow fsync, a stolen CPU) rather than the server's limit, so it may be run again.
    /// Anything lost, refused, dropped or duplicated is never retried.
    pub fn failed_on_latency_alone(&self) -> bool {
        self.valid
            && !self.pass
            && self.sent > 0
            && self.lost == 0
            && self.errors == 0
            && self.disconnects == 0
            && self.duplicates == 0
            && self.unacked == 0
    }
}
