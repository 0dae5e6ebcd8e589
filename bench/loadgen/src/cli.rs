//! Command-line interface. Options shared by every workload come before the workload's
//! name; each workload's own options after it. Rates are messages per second into the
//! whole system (all rooms together).

use crate::procfs::Watched;
use crate::target::{Kind, Target};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Open-loop load generator for Natter and its Socket.IO peer",
    after_help = "Prints a table per step on stderr and one `RESULT {json}` line on stdout."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub workload: Workload,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Which server speaks at --url.
    #[arg(long, value_enum, default_value = "natter", global = true)]
    pub target: Kind,
    /// The server's own origin (also sent as `Origin`).
    #[arg(long, default_value = "http://127.0.0.1:3000", global = true)]
    pub url: String,
    /// The server process: its CPU and RSS (with all its descendants) are reported.
    #[arg(long, global = true)]
    pub server_pid: Option<i32>,
    /// More processes to report apart, e.g. `--watch-pid mariadb=1234` (repeatable).
    #[arg(long, value_parser = parse_named_pid, global = true)]
    pub watch_pid: Vec<(String, i32)>,
    /// Loadgen worker threads (each owns a share of the sockets).
    #[arg(long, default_value_t = 1, global = true)]
    pub threads: usize,
    /// Usernames are `<prefix><n>`.
    #[arg(long, default_value = "lg", global = true)]
    pub user_prefix: String,
    /// Natter room names are `<prefix>-<workload>-<n>`.
    #[arg(long, default_value = "bench", global = true)]
    pub room_prefix: String,
    /// The peer's rooms are numbers: `<base> + n`.
    #[arg(long, default_value_t = 1, global = true)]
    pub peer_room_base: i64,
    /// Logins in flight at once during setup (each costs the server a password hash).
    #[arg(long, default_value_t = 8, global = true)]
    pub login_concurrency: usize,
    /// Sockets being opened and joined at once during setup.
    #[arg(long, default_value_t = 64, global = true)]
    pub connect_concurrency: usize,
    /// File remembering Natter session cookies between runs (default: one in the temp dir).
    #[arg(long, global = true)]
    pub session_cache: Option<PathBuf>,
    /// Log every user in afresh instead of reusing remembered sessions.
    #[arg(long, global = true)]
    pub no_session_cache: bool,
    /// How long setup waits out "too many requests" before giving up, seconds.
    #[arg(long, default_value_t = 180, global = true)]
    pub rate_limit_patience_secs: u64,
    /// A step is invalid (loadgen-bound) if a loadgen thread was busier than this, percent.
    #[arg(long, default_value_t = 90.0, global = true)]
    pub max_loadgen_cpu_pct: f64,
    /// A step is invalid (loadgen-bound) if the schedule lag p99 exceeds this, ms.
    #[arg(long, default_value_t = 10.0, global = true)]
    pub max_lag_ms: f64,
}

impl Common {
    pub fn target(&self) -> anyhow::Result<Target> {
        Target::new(
            self.target,
            &self.url,
            std::time::Duration::from_secs(self.rate_limit_patience_secs),
        )
    }

    pub fn session_cache_path(&self, target: &Target) -> Option<PathBuf> {
        if self.no_session_cache {
            return None;
        }
        Some(
            self.session_cache
                .clone()
                .unwrap_or_else(|| crate::users::default_cache_path(target, &self.user_prefix)),
        )
    }

    pub fn watched(&self) -> Watched {
        Watched {
            server: self.server_pid,
            others: self.watch_pid.clone(),
        }
    }
}

fn parse_named_pid(s: &str) -> Result<(String, i32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected NAME=PID")?;
    let pid = pid.trim().parse().map_err(|e| format!("bad pid {pid:?}: {e}"))?;
    Ok((name.trim().to_owned(), pid))
}

#[derive(Subcommand, Debug)]
pub enum Workload {
    /// Many authenticated idle sockets (each joined to a room): server RSS per socket.
    Idle(IdleArgs),
    /// R rooms × M members with an offered message rate; `--step` finds the knee.
    Fanout(ChatArgs),
    /// Fanout where every fifth frame a sender sends is a change to its last message
    /// (a reaction added, one taken back, an edit, in turn) instead: Natter only.
    Mixed(ChatArgs),
    /// One big room (default 2,000 members, 100 msgs/s in).
    Bigroom(ChatArgs),
    /// Many senders across 100 rooms: committed-and-acked messages/s and ack latency.
    Persist(ChatArgs),
    /// Fanout at a fixed rate, first alone, then during a login storm.
    Login(LoginArgs),
    /// Fanout at a fixed rate, first alone, then while people upload phone photos: Natter only.
    Upload(UploadArgs),
    /// p99 time to fetch a 50-message page at random depths of a deep room.
    History(HistoryArgs),
    /// Fill a room with N messages straight into the database (for `history`).
    SeedHistory(SeedArgs),
    /// p99 time to open the sidebar (unread counts) of someone in many deep rooms: Natter only.
    Sidebar(SidebarArgs),
    /// p99 time of a message search over a big English and Chinese history: Natter only.
    Search(SearchArgs),
    /// The machine's floor: CPU cost of one small write on a loopback TCP socket.
    Floor(FloorArgs),
}

/// Options of the chat workloads; unset ones take the workload's defaults.
#[derive(Args, Debug, Clone, Default)]
pub struct ChatArgs {
    /// Rooms.
    #[arg(long)]
    pub rooms: Option<usize>,
    /// Connections per room (members).
    #[arg(long)]
    pub members: Option<usize>,
    /// Members of each room that send (they share the room's schedule).
    #[arg(long)]
    pub senders: Option<usize>,
    /// Sockets per user (Natter caps them per user and node; SOCKETS_PER_USER raises it).
    #[arg(long)]
    pub conns_per_user: Option<usize>,
    /// Offered messages/s, all rooms together (the first step's rate with --step).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Step the rate up until a step fails, and report the knee.
    #[arg(long)]
    pub step: bool,
    /// Each step's rate is the last one's times this.
    #[arg(long, default_value_t = 1.5)]
    pub step_factor: f64,
    /// Stop climbing after this many rates.
    #[arg(long, default_value_t = 15)]
    pub max_steps: u32,
    /// After the climb's first failure, offer this many geometric midpoints between the
    /// highest rate that passed and the lowest that failed (each halves the band's log
    /// width: 2 narrows a ×1.5 band to ×1.11). 0 ends the search at the first failure.
    #[arg(long, default_value_t = 2)]
    pub refine: u32,
    /// A step that fails on latency alone (nothing lost, refused or dropped) is run again
    /// at the same rate up to this many times before the rate counts as failed; the knee is the
    /// highest rate that passed. One 5 s step fails on a single 100 ms stall of a shared
    /// disk or CPU, which says nothing about the server's capacity; a real limit fails
    /// again. 0 restores "the first failing step ends the search".
    #[arg(long, default_value_t = 1)]
    pub retries: u32,
    /// Seconds of sending per step (or of the single run).
    #[arg(long)]
    pub step_secs: Option<f64>,
    /// Unmeasured sending before the first step, seconds.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// After a step, wait at most this long for late deliveries and acks, seconds.
    #[arg(long, default_value_t = 2.0)]
    pub grace_secs: f64,
    /// Message body size, bytes.
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Every this-many-th frame of a sender is a change to its last message instead
    /// of a message (the `mixed` workload's default is 5; 0: messages only).
    #[arg(long)]
    pub changes_every: Option<u64>,
    /// A step fails when the p99 latency (delivery, or ack for persist) exceeds this, ms.
    #[arg(long)]
    pub slo_p99_ms: Option<f64>,
}

#[derive(Args, Debug, Clone)]
pub struct UploadArgs {
    #[command(flatten)]
    pub chat: ChatArgs,
    /// People uploading at once, each one photo after another (closed loop).
    #[arg(long, default_value_t = 4)]
    pub uploaders: usize,
    /// The photo's size, megapixels (a 12 MP JPEG is ~3.5 MB, as phones take them).
    #[arg(long, default_value_t = 12.0)]
    pub megapixels: f64,
    /// Pairs of windows (without, then with the uploads); the change is judged on medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
}

#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    #[command(flatten)]
    pub chat: ChatArgs,
    /// Logins per second during the storm (open loop), of the fleet's own users.
    #[arg(long, default_value_t = 20.0)]
    pub logins_per_sec: f64,
    /// Pairs of windows (without, then with the storm); the change is judged on medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
}

#[derive(Args, Debug, Clone)]
pub struct IdleArgs {
    /// Sockets to open.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    #[arg(long, default_value_t = 10)]
    pub conns_per_user: usize,
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Seconds to wait after opening before measuring (lets allocators settle).
    #[arg(long, default_value_t = 5.0)]
    pub settle_secs: f64,
    /// Seconds to hold the sockets afterwards, checking none drops.
    #[arg(long, default_value_t = 10.0)]
    pub hold_secs: f64,
}

/// How long and how hard a closed loop of requests runs.
#[derive(Args, Debug, Clone)]
pub struct LoopArgs {
    /// Requests in flight at once (closed loop).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds of requests.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Seconds of unmeasured requests first.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
}

#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// Messages in the room (as seeded); `before` is drawn from 51..=depth+1.
    #[arg(long, default_value_t = 1_000_000)]
    pub depth: i64,
    /// Natter: reactions the room's messages must carry, one per message from the
    /// first (only the missing ones are added; none on a server without reactions).
    #[arg(long, default_value_t = 0)]
    pub reactions: i64,
    /// Natter: the room's name (default `<room-prefix>-history`). Peer: use --peer-room.
    #[arg(long)]
    pub room_name: Option<String>,
    /// The peer's history room.
    #[arg(long, default_value_t = 1_000_000)]
    pub peer_room: i64,
    /// Lowest message id in the peer's room (its `before` values are ids, not sequences);
    /// default: the newest id − depth + 1, as `seed-history` leaves it.
    #[arg(long)]
    pub first_id: Option<i64>,
    #[command(flatten)]
    pub run: LoopArgs,
}

#[derive(Args, Debug, Clone)]
pub struct SidebarArgs {
    /// The target's database (seeded directly; only what is missing).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/natter_bench")]
    pub database_url: String,
    /// Rooms the reader is in.
    #[arg(long, default_value_t = 200)]
    pub rooms: i64,
    /// Each room's last sequence (how long its log is).
    #[arg(long, default_value_t = 1_000_000)]
    pub depth: i64,
    /// Messages actually stored at the end of each room's log: the count reads at most
    /// the 100 events after a read marker, so rows further back are never touched.
    #[arg(long, default_value_t = 1_000)]
    pub tail: i64,
    #[command(flatten)]
    pub run: LoopArgs,
}

#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    /// The target's database (seeded directly; only what is missing).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/natter_bench")]
    pub database_url: String,
    /// Messages in all, half English and half Chinese.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: i64,
    /// Public rooms they are spread over.
    #[arg(long, default_value_t = 20)]
    pub rooms: i64,
    /// Shell command that indexes seeded messages (the server's `rebuild-search` on
    /// this database); run when messages were inserted, or with --reindex.
    #[arg(long)]
    pub index_command: Option<String>,
    /// Run --index-command even if nothing was inserted.
    #[arg(long)]
    pub reindex: bool,
    #[command(flatten)]
    pub run: LoopArgs,
}

#[derive(Args, Debug, Clone)]
pub struct SeedArgs {
    /// The target's database.
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/natter_bench")]
    pub database_url: String,
    /// Messages the room must hold (only the missing ones are inserted).
    #[arg(long, default_value_t = 1_000_000)]
    pub depth: i64,
    /// Rows per INSERT.
    #[arg(long, default_value_t = 2_000)]
    pub batch: usize,
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Natter: reactions the room's messages must carry, one per message from the
    /// first (only the missing ones are added; none on a server without reactions).
    #[arg(long, default_value_t = 0)]
    pub reactions: i64,
    /// Natter: the room's name (default `<room-prefix>-history`).
    #[arg(long)]
    pub room_name: Option<String>,
    /// The peer's history room.
    #[arg(long, default_value_t = 1_000_000)]
    pub peer_room: i64,
    /// The peer's messages table.
    #[arg(long, default_value = "peer_messages")]
    pub peer_table: String,
}

#[derive(Args, Debug, Clone)]
pub struct FloorArgs {
    /// Writes to time.
    #[arg(long, default_value_t = 1_000_000)]
    pub writes: u64,
    /// Bytes per write.
    #[arg(long, default_value_t = 100)]
    pub bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed_and_parses_a_suite_call() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "loadgen",
            "--target",
            "peer",
            "--url",
            "http://127.0.0.1:3100",
            "--server-pid",
            "42",
            "--watch-pid",
            "mariadb=7",
            "fanout",
            "--step",
            "--rate",
            "200",
        ])
        .unwrap();
        assert_eq!(cli.common.target, Kind::Peer);
        assert_eq!(cli.common.watch_pid, vec![("mariadb".to_owned(), 7)]);
        let Workload::Fanout(args) = cli.workload else {
            panic!("not fanout")
        };
        assert!(args.step);
        assert_eq!(args.rate, Some(200.0));
    }
}
