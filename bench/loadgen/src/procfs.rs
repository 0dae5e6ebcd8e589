//! CPU time and resident memory of the server under test, read from `/proc`.
//!
//! A process is counted together with all of its live descendants: the Socket.IO peer
//! runs a Node cluster whose workers are child processes, and only the sum compares
//! fairly with Natter's single process.

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;

/// The fields of `/proc/PID/stat` this tool needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub ppid: i32,
    /// User and system CPU in clock ticks.
    pub utime: u64,
    pub stime: u64,
}

/// Parses one `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
/// itself contain spaces and parentheses, so the fields are counted from the *last* `)`.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let after = &line[line.rfind(')')? + 1..];
    // After the name: state(3) ppid(4) … utime(14) stime(15), 1-based as in proc(5).
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    Some(ProcStat {
        ppid: field(4)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
    })
}

/// `VmRSS` from a `/proc/PID/status` text, in KiB (absent for kernel threads and zombies).
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..].split_ascii_whitespace().next()?.parse().ok()
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// One reading of a process tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TreeSample {
    /// User + system CPU of every process in the tree, seconds.
    pub cpu_s: f64,
    /// Sum of VmRSS over the tree, MiB (shared pages are counted once per process).
    pub rss_mib: f64,
    pub processes: u32,
}

/// `root` and every live process descended from it.
fn tree(root: i32) -> Result<Vec<(i32, ProcStat)>> {
    let root_stat = std::fs::read_to_string(format!("/proc/{root}/stat"))
        .with_context(|| format!("process {root} is not running"))?;
    let root_stat = parse_stat(&root_stat).with_context(|| format!("unreadable /proc/{root}/stat"))?;
    let mut all: Vec<(i32, ProcStat)> = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        // A process may exit between listing and reading: skip it.
        if let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        {
            all.push((pid, stat));
        }
    }
    let mut children: HashMap<i32, Vec<(i32, ProcStat)>> = HashMap::new();
    for (pid, stat) in all {
        children.entry(stat.ppid).or_default().push((pid, stat));
    }
    let mut found = vec![(root, root_stat)];
    let mut i = 0;
    while i < found.len() {
        if let Some(kids) = children.get(&found[i].0) {
            found.extend(kids.iter().copied());
        }
        i += 1;
    }
    Ok(found)
}

/// Samples the CPU and memory of a process tree.
pub fn sample_tree(root: i32) -> Result<TreeSample> {
    let ticks = clock_ticks_per_second() as f64;
    let mut sample = TreeSample::default();
    for (pid, stat) in tree(root)? {
        sample.cpu_s += (stat.utime + stat.stime) as f64 / ticks;
        sample.rss_mib += std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| parse_vm_rss_kib(&s))
            .unwrap_or(0) as f64
            / 1024.0;
        sample.processes += 1;
    }
    Ok(sample)
}

/// The processes a run watches: the server (its tree) and, optionally, named helpers such
/// as the database, reported apart so the server's own cost stays visible.
#[derive(Clone, Debug, Default)]
pub struct Watched {
    pub server: Option<i32>,
    pub others: Vec<(String, i32)>,
}

/// Busy and total clock ticks of the whole machine, from the first line of `/proc/stat`
/// (`cpu  user nice system idle iowait irq softirq steal …`; idle and iowait are not busy).
pub fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

fn machine_ticks() -> Option<(u64, u64)> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// One reading of every watched process.
#[derive(Clone, Debug, Default)]
pub struct Reading {
    pub at: Option<std::time::Instant>,
    /// Busy and total ticks of the machine: how much CPU was left for anyone.
    pub machine: Option<(u64, u64)>,
    pub server: Option<TreeSample>,
    pub others: Vec<(String, TreeSample)>,
}

/// What the watched processes did between two readings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Usage {
    /// CPU seconds used in the interval.
    pub cpu_s: f64,
    /// Average cores busy over the interval (1.0 = one full core).
    pub cores: f64,
    /// Resident memory at the end of the interval.
    pub rss_mib: f64,
    pub processes: u32,
}

impl Watched {
    pub fn read(&self) -> Reading {
        let warn = |what: &str, e: anyhow::Error| eprintln!("warning: cannot read {what}: {e:#}");
        Reading {
            at: Some(std::time::Instant::now()),
            machine: machine_ticks(),
            server: self
                .server
                .and_then(|pid| sample_tree(pid).map_err(|e| warn("the server's /proc", e)).ok()),
            others: self
                .others
                .iter()
                .filter_map(|(name, pid)| {
                    sample_tree(*pid)
                        .map_err(|e| warn(name, e))
                        .ok()
                        .map(|s| (name.clone(), s))
                })
                .collect(),
        }
    }
}

impl Reading {
    fn usage(a: &TreeSample, b: &TreeSample, secs: f64) -> Usage {
        let cpu_s = (b.cpu_s - a.cpu_s).max(0.0);
        Usage {
            cpu_s,
            cores: if secs > 0.0 { cpu_s / secs } else { 0.0 },
            rss_mib: b.rss_mib,
            processes: b.processes,
        }
    }

    /// The server's usage from `self` to `later`, if both readings have it.
    pub fn server_until(&self, later: &Reading) -> Option<Usage> {
        let secs = self.secs_until(later);
        Some(Self::usage(self.server.as_ref()?, later.server.as_ref()?, secs))
    }

    /// Each named helper's usage from `self` to `later`.
    pub fn others_until(&self, later: &Reading) -> Vec<(String, Usage)> {
        let secs = self.secs_until(later);
        self.others
            .iter()
            .filter_map(|(name, a)| {
                let (_, b) = later.others.iter().find(|(n, _)| n == name)?;
                Some((name.clone(), Self::usage(a, b, secs)))
            })
            .collect()
    }

    /// Cores the whole machine kept busy from `self` to `later` (everything, not only the
    /// watched processes: a compile next door shows up here).
    pub fn machine_busy_cores_until(&self, later: &Reading) -> Option<f64> {
        let ((b0, _), (b1, _)) = (self.machine?, later.machine?);
        let secs = self.secs_until(later);
        (secs > 0.0).then(|| b1.saturating_sub(b0) as f64 / clock_ticks_per_second() as f64 / secs)
    }

    fn secs_until(&self, later: &Reading) -> f64 {
        match (self.at, later.at) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// Resident memory of this process, MiB.
pub fn own_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_vm_rss_kib(&s))
        .unwrap_or(0) as f64
        / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_from_the_last_parenthesis() {
        let line = "4242 (node (worker) 1) S 4200 4242 4200 0 -1 4194560 1503 0 0 0 \
                    731 95 0 0 20 0 11 0 123456 1099511627776 25000 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                ppid: 4200,
                utime: 731,
                stime: 95
            })
        );
        assert_eq!(parse_stat("12 (short) S 1"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
    }

    #[test]
    fn machine_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n";
        assert_eq!(parse_machine_ticks(stat), Some((161, 1181)));
        assert_eq!(parse_machine_ticks("intr 1 2 3\n"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tserver\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn this_process_tree_can_be_sampled() {
        let me = i32::try_from(std::process::id()).unwrap();
        let sample = sample_tree(me).unwrap();
        assert!(sample.processes >= 1);
        assert!(sample.rss_mib > 0.0);
        assert!(sample_tree(i32::MAX).is_err());
    }
}
