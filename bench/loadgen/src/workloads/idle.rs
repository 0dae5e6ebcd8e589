//! `idle`: many authenticated sockets, each joined to a room, doing nothing. Measures the
//! server's resident memory per socket and the CPU it spends keeping idle sockets alive
//! (pings, session re-checks, presence refreshes).

use crate::cli::{Common, IdleArgs};
use crate::fleet::{Fleet, Layout};
use anyhow::Result;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub async fn run(common: &Common, args: &IdleArgs) -> Result<Value> {
    let rooms = args.rooms.clamp(1, args.conns.max(1));
    let layout = Layout {
        rooms,
        members: args.conns.div_ceil(rooms),
        senders: 0,
        conns_per_user: args.conns_per_user.max(1),
        body_bytes: 0,
        changes_every: 0,
    };
    let target = Arc::new(common.target()?);
    let fleet = Fleet::open(common, target, layout.clone(), "idle-").await?;
    let conns = layout.connections();
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs.max(0.0))).await;
    let opened = fleet.watched.read();
    tokio::time::sleep(Duration::from_secs_f64(args.hold_secs.max(0.0))).await;
    let held = fleet.watched.read();
    let (dropped, reasons) = fleet.dropped().await?;
    let loadgen_rss = crate::procfs::own_rss_mib();
    let before = fleet.before_sockets.server;
    fleet.close().await;

    let after = opened.server;
    let hold = opened.server_until(&held);
    let per_conn_kib = match (before, after) {
        (Some(b), Some(a)) => Some((a.rss_mib - b.rss_mib) * 1024.0 / conns as f64),
        _ => None,
    };
    eprintln!(
        "idle: {conns} sockets; server RSS {} → {} MiB, {} KiB per socket; idle CPU {}; {dropped} dropped; loadgen RSS {loadgen_rss:.0} MiB",
        fmt(before.map(|s| s.rss_mib), 1),
        fmt(after.map(|s| s.rss_mib), 1),
        fmt(per_conn_kib, 1),
        hold.as_ref()
            .map_or("-".into(), |u| format!("{:.1}% of a core", u.cores * 100.0)),
    );
    for reason in reasons.iter().take(3) {
        eprintln!("  dropped socket: {reason}");
    }
    Ok(json!({
        "workload": "idle",
        "target": common.target,
        "layout": layout,
        "connections": conns,
        "server_rss_mib_before": before.map(|s| s.rss_mib),
        "server_rss_mib_after": after.map(|s| s.rss_mib),
        "server_rss_kib_per_conn": per_conn_kib,
        "server_idle_hold": hold,
        "dropped": dropped,
        "loadgen_rss_mib": loadgen_rss,
        "valid": true,
        "pass": dropped == 0,
    }))
}

fn fmt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}
