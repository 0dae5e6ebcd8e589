#!/usr/bin/env python3
"""Medians over repetitions, and the Natter/peer ratio, of a bench/run's raw.jsonl.

With `bench/run --against REV` the other target is Natter at that commit
("base") instead of the peer, and the ratio is this tree's against it.

Usage: summarize.py raw.jsonl "machine description"  → Markdown on stdout.
A run that produced no valid number counts as missing (shown as "–"), never as 0.
"""
import json
import statistics
import sys
from collections import defaultdict


def knee(run):
    """The step a chat workload is judged by: its knee (highest passing rate), or its last step."""
    if run.get("knee"):
        return run["knee"]
    steps = run.get("steps") or []
    return steps[-1] if steps else None


def dig(obj, *path):
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


# (workload, label, extractor, better): one row each; better is "higher" or "lower".
METRICS = [
    ("idle", "server RSS per idle connection (KiB)", lambda r: r.get("server_rss_kib_per_conn"), "lower"),
    ("fanout", "knee: delivered msgs/s (p99 ≤ 50 ms, nothing lost)", lambda r: dig(knee(r), "delivered_per_s"), "higher"),
    ("fanout", "knee: p50 latency (ms)", lambda r: dig(knee(r), "latency", "p50_ms"), "lower"),
    ("fanout", "knee: p99 latency (ms)", lambda r: dig(knee(r), "latency", "p99_ms"), "lower"),
    ("fanout", "knee: p99.9 latency (ms)", lambda r: dig(knee(r), "latency", "p999_ms"), "lower"),
    ("fanout", "knee: server CPU per delivered message (µs)", lambda r: dig(knee(r), "server_cpu_us_per_delivered"), "lower"),
    ("fanout", "knee: offered msgs/s", lambda r: dig(knee(r), "offered_per_s"), "higher"),
    ("mixed", "knee: offered frames/s (1 in 5 a change; Natter only)", lambda r: dig(knee(r), "offered_per_s"), "higher"),
    ("mixed", "knee: p99 latency (ms)", lambda r: dig(knee(r), "latency", "p99_ms"), "lower"),
    ("bigroom", "delivered msgs/s", lambda r: dig(knee(r), "delivered_per_s"), "higher"),
    ("bigroom", "p50 latency (ms)", lambda r: dig(knee(r), "latency", "p50_ms"), "lower"),
    ("bigroom", "p99 latency (ms)", lambda r: dig(knee(r), "latency", "p99_ms"), "lower"),
    ("persist", "committed + acked msgs/s (ack p99 ≤ 50 ms)", lambda r: dig(knee(r), "acked_per_s"), "higher"),
    ("persist", "ack p99 at that rate (ms)", lambda r: dig(knee(r), "ack_latency", "p99_ms"), "lower"),
    ("history", "50-message page p50 (ms)", lambda r: dig(r, "latency", "p50_ms"), "lower"),
    ("history", "50-message page p99 (ms)", lambda r: dig(r, "latency", "p99_ms"), "lower"),
    ("sidebar", "sidebar of 200 rooms × 1M events p50 (ms; Natter only)", lambda r: dig(r, "latency", "p50_ms"), "lower"),
    ("sidebar", "sidebar of 200 rooms × 1M events p99 (ms)", lambda r: dig(r, "latency", "p99_ms"), "lower"),
    ("sidebar", "server CPU per sidebar (µs)", lambda r: r.get("server_cpu_us_per_open"), "lower"),
    ("search", "search of 1M English+Chinese messages p50 (ms; Natter only)", lambda r: dig(r, "latency", "p50_ms"), "lower"),
    ("search", "search of 1M English+Chinese messages p99 (ms)", lambda r: dig(r, "latency", "p99_ms"), "lower"),
    ("search", "results per search (first page, ≤ 20)", lambda r: r.get("results_per_search"), "higher"),
    ("search", "server CPU per search (µs)", lambda r: r.get("server_cpu_us_per_search"), "lower"),
    ("search", "rebuild-search of the seeded messages (s)", lambda r: r.get("index_secs"), "lower"),
    ("login", "chat p99 without logins (ms)", lambda r: r.get("chat_p99_ms_baseline"), "lower"),
    ("login", "chat p99 during 20 logins/s (ms)", lambda r: r.get("chat_p99_ms_storm"), "lower"),
    ("login", "chat p99 change (%)", lambda r: change(r), "lower"),
    ("upload", "phone photos uploaded per second (Natter only)", lambda r: dig(r, "uploads", "per_s"), "higher"),
    ("upload", "server CPU per photo (ms)", lambda r: r.get("server_cpu_ms_per_photo"), "lower"),
    ("upload", "server peak RSS while uploading (MiB)", lambda r: dig(r, "uploads", "peak_rss_mib"), "lower"),
    ("upload", "chat p99 without uploads (ms)", lambda r: r.get("chat_p99_ms_alone"), "lower"),
    ("upload", "chat p99 during uploads (ms)", lambda r: r.get("chat_p99_ms_uploading"), "lower"),
]


def change(r):
    base, storm = r.get("chat_p99_ms_baseline"), r.get("chat_p99_ms_storm")
    if not base or storm is None:
        return None
    return (storm - base) / base * 100


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}"


def main():
    raw, machine = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    runs = [json.loads(line) for line in open(raw) if line.strip()]
    values = defaultdict(list)   # (workload, label, target) → [value per valid run]
    counts = defaultdict(lambda: [0, 0])  # (workload, target) → [valid, all]
    retried = defaultdict(int)  # (workload, target) → steps run again, all repetitions
    floors = [r["run"].get("cpu_us_per_write") for r in runs if r["target"] == "machine"]
    floors = [f for f in floors if f]
    floor = statistics.median(floors) if floors else None
    for r in runs:
        run, target = r["run"], r["target"]
        workload = run.get("workload")
        if target == "machine" or workload is None:
            continue
        counts[(workload, target)][1] += 1
        retried[(workload, target)] += run.get("retried_steps") or 0
        if not run.get("valid"):
            continue
        counts[(workload, target)][0] += 1
        for w, label, get, _ in METRICS:
            if w == workload:
                v = get(run)
                if v is not None:
                    values[(w, label, target)].append(v)

    reps = max([r["rep"] for r in runs] or [0])
    other = "base" if any(r["target"] == "base" for r in runs) else "peer"
    if other == "base":
        print(f"# Natter vs Natter at an earlier commit — {machine}\n")
        print(f"Medians over {reps} repetition(s); each workload ran on this tree's server and the earlier "
              "one (\"base\") alternately, each time on a freshly started server. \"×\" is Natter/base, "
              "put so that > 1 means this tree is better.\n")
    else:
        print(f"# Natter vs Socket.IO peer — {machine}\n")
        print(f"Medians over {reps} repetition(s); each workload ran on Natter and the peer alternately, "
              "each time on a freshly started server. \"×\" is Natter/peer, put so that > 1 means Natter is better.\n")
    if floor:
        spread = f"; {len(floors)} readings, {min(floors):.2f}-{max(floors):.2f}" if len(floors) > 1 else ""
        print(f"Machine floor: one 100-byte write on a loopback TCP socket costs {floor:.2f} µs of CPU "
              f"(writer + reader{spread}).\n")
    print(f"| workload | metric | Natter | {other} | × | valid runs (Natter, {other}) |")
    print("|---|---|---|---|---|---|")
    for w, label, _, better in METRICS:
        n = values.get((w, label, "natter"))
        p = values.get((w, label, other))
        nm = statistics.median(n) if n else None
        pm = statistics.median(p) if p else None
        ratio = None
        if nm is not None and pm is not None and label != "chat p99 change (%)":
            if better == "higher" and pm > 0:
                ratio = nm / pm
            elif better == "lower" and nm > 0:
                ratio = pm / nm
        valid = f"{counts[(w, 'natter')][0]}/{counts[(w, 'natter')][1]}, {counts[(w, other)][0]}/{counts[(w, other)][1]}"
        print(f"| {w} | {label} | {fmt(nm)} | {fmt(pm)} | {fmt(ratio) if ratio else '–'} | {valid} |")
    if any(retried.values()):
        again = ", ".join(f"{w} {t} {n}" for (w, t), n in sorted(retried.items()) if n)
        print(f"\nSteps that failed on latency alone and were run again at the same rate "
              f"(all repetitions; a knee is the highest rate that passed): {again}.")
    plain = values.get(("fanout", "knee: offered msgs/s", "natter"))
    mixed = values.get(("mixed", "knee: offered frames/s (1 in 5 a change; Natter only)", "natter"))
    if plain and mixed:
        share = statistics.median(mixed) / statistics.median(plain) * 100
        print(f"\nNatter's mixed knee (one frame in five a reaction or an edit) is {share:.0f} % of its "
              f"messages-only fan-out knee in this run (offered frames/s; the target is ≥ 90 %).")
    cpu = values.get(("fanout", "knee: server CPU per delivered message (µs)", "natter"))
    if floor and cpu:
        print(f"\nNatter's server CPU per delivered message at the fan-out knee is "
              f"{statistics.median(cpu) / floor:.2f}× the loopback write floor.")


if __name__ == "__main__":
    main()
