//! `floor`: what one small write on a loopback TCP socket costs this machine in CPU (user +
//! system, both ends), so the suite can express a server's CPU per delivered message as a
//! multiple of the cheapest thing a server must do per message: write it to a socket.

use crate::cli::FloorArgs;
use crate::stats;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// One side's result: CPU of its thread.
type Side = (Duration, u64);

pub fn run(args: &FloorArgs) -> Result<Value> {
    let writes = args.writes.max(1);
    let payload = vec![b'f'; args.bytes.max(1)];
    let expected = writes * payload.len() as u64;
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> Result<Side> {
        let (mut socket, _) = listener.accept()?;
        let cpu0 = stats::thread_cpu();
        let mut buf = vec![0u8; 64 * 1024];
        let (mut total, mut reads) = (0u64, 0u64);
        while total < expected {
            let n = socket.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            reads += 1;
        }
        Ok((stats::thread_cpu().saturating_sub(cpu0), reads))
    });
    let mut writer = TcpStream::connect(addr).context("connecting over loopback")?;
    // Each write is its own segment, as a server flushing one frame per message does.
    writer.set_nodelay(true)?;
    let process0 = stats::process_cpu();
    let cpu0 = stats::thread_cpu();
    let started = Instant::now();
    for _ in 0..writes {
        writer.write_all(&payload)?;
    }
    let writer_cpu = stats::thread_cpu().saturating_sub(cpu0);
    drop(writer);
    let (reader_cpu, reads) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;
    let wall = started.elapsed();
    let total = stats::process_cpu().saturating_sub(process0);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / writes as f64;
    eprintln!(
        "floor: {writes} writes of {} bytes in {wall:.2?}: {:.2} µs CPU per write (writer {:.2}, reader {:.2}; {reads} reads)",
        payload.len(),
        us(total),
        us(writer_cpu),
        us(reader_cpu),
    );
    Ok(json!({
        "workload": "floor",
        "writes": writes,
        "bytes": payload.len(),
        "wall_s": wall.as_secs_f64(),
        "cpu_us_per_write": us(total),
        "writer_cpu_us_per_write": us(writer_cpu),
        "reader_cpu_us_per_write": us(reader_cpu),
        "reads": reads,
        "valid": true,
        "pass": true,
    }))
}
