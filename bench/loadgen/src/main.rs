//! `loadgen`: drives Natter (or the Socket.IO peer in `bench/peer/`) with real protocol
//! traffic and reports latency, throughput, losses and what it cost the server.
//!
//! Layout:
//! - `cli`: options; `target`, `natter`, `peer`, `http`: the two servers' protocols;
//! - `users`: sign-up/login and remembered sessions;
//! - `fleet`: opens the sockets and drives steps; `conn`: one socket; `shard`: the
//!   worker threads and their lock-free bookkeeping; `stamp`: the body stamp and clock;
//! - `stats`: histograms and getrusage; `procfs`: the server's CPU and RSS;
//! - `workloads/`: one module per workload; `report`: the table and the `RESULT` line.

mod cli;
mod conn;
mod fleet;
mod http;
mod natter;
mod peer;
mod procfs;
mod report;
mod shard;
mod stamp;
mod stats;
mod target;
mod users;
mod workloads;

use clap::Parser;
use cli::{Cli, Workload};
use workloads::{chat, find, floor, history, idle, seed, sidebar, upload};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let nofile = stats::raise_nofile_limit();
    stamp::base();
    let name = workload_name(&cli.workload);
    // The controller runs on this thread; the sockets live on the shard threads.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if nofile < 2 * 1024 && matches!(cli.workload, Workload::Idle(_)) {
        eprintln!("warning: only {nofile} open files allowed; many sockets will fail");
    }
    let outcome = runtime.block_on(async {
        let common = &cli.common;
        match &cli.workload {
            Workload::Idle(a) => idle::run(common, a).await,
            Workload::Fanout(a) => chat::run(common, "fanout", a, &chat::FANOUT).await,
            Workload::Mixed(a) => chat::run(common, "mixed", a, &chat::MIXED).await,
            Workload::Bigroom(a) => chat::run(common, "bigroom", a, &chat::BIGROOM).await,
            Workload::Persist(a) => chat::run(common, "persist", a, &chat::PERSIST).await,
            Workload::Login(a) => chat::run_login(common, a).await,
            Workload::Upload(a) => upload::run(common, a).await,
            Workload::History(a) => history::run(common, a).await,
            Workload::SeedHistory(a) => seed::run(common, a).await,
            Workload::Sidebar(a) => sidebar::run(common, a).await,
            Workload::Search(a) => find::run(common, a).await,
            Workload::Floor(a) => floor::run(a),
        }
    });
    // Sockets still open on the shard threads are simply dropped with the process.
    match outcome {
        Ok(value) => {
            report::result(&value);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            report::result(&serde_json::json!({
                "workload": name,
                "target": cli.common.target,
                "error": format!("{e:#}"),
                "valid": false,
                "pass": false,
            }));
            std::process::ExitCode::FAILURE
        }
    }
}

fn workload_name(w: &Workload) -> &'static str {
    match w {
        Workload::Idle(_) => "idle",
        Workload::Fanout(_) => "fanout",
        Workload::Mixed(_) => "mixed",
        Workload::Bigroom(_) => "bigroom",
        Workload::Persist(_) => "persist",
        Workload::Login(_) => "login",
        Workload::Upload(_) => "upload",
        Workload::History(_) => "history",
        Workload::SeedHistory(_) => "seed-history",
        Workload::Sidebar(_) => "sidebar",
        Workload::Search(_) => "search",
        Workload::Floor(_) => "floor",
    }
}
