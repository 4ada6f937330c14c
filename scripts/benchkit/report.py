"""The bench's table: every figure of one run, side by side."""

import json


def fmt(value, digits=2):
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def delivered(figures):
    return (figures.get("messages") or {}).get("delivered_per_second") or 0


def print_table(f):
    bare, rc, one = f["bare"], f["rollcall"], f["max_batch_1"]
    rows = [
        ("connects/s", fmt(bare["connects_per_second"], 0), fmt(rc["connects_per_second"], 0), fmt(one["connects_per_second"], 0),
         f"{rc['connects_per_second'] / bare['connects_per_second']:.0%} of bare (target ≥ 90 %)"),
        ("hub CPU per connect+close (ms)", fmt(bare["hub_cpu_ms"], 3), fmt(rc["hub_cpu_ms"], 3), fmt(one["hub_cpu_ms"], 3),
         f"{rc['hub_cpu_ms'] / bare['hub_cpu_ms']:.2f}× bare (target ≤ 1.3×)"),
        ("PostgreSQL CPU per connect+close (ms)", "—", fmt(rc["pg_cpu_ms"], 3), fmt(one["pg_cpu_ms"], 3),
         f"{one['pg_cpu_ms'] / rc['pg_cpu_ms']:.1f}× less than --max-batch 1 (target ≤ 0.05 ms and ≥ 10×)"),
        ("the advice's recipe in Redis: redis-server CPU per connect+close (ms)", "", fmt((f.get("redis") or {}).get("redis_cpu_ms"), 3), "",
         f"PostgreSQL {rc['pg_cpu_ms'] / f['redis']['redis_cpu_ms']:.1f}× Redis (target ≤ 2×)" if f.get("redis") else "redis-server missing"),
        ("RSS per idle connection (KB)", fmt(bare["rss_per_socket_kb"], 1), fmt(rc["rss_per_socket_kb"], 1), "",
         f"{rc['rss_per_socket_kb'] / bare['rss_per_socket_kb']:.2f}× bare (target ≤ 1.2×)"),
        ("idle CPU, sockets held (ms/s)", fmt(bare["idle_cpu_ms_per_s"], 1), fmt(rc["idle_cpu_ms_per_s"], 1), "",
         f"{rc['idle_cpu_ms_per_s'] / max(bare['idle_cpu_ms_per_s'], 0.1):.1f}× bare (target ≤ 2×)"),
        ("DB rows written per idle connection", "—", fmt(rc["rows_written_per_idle"], 4), "", "target 0"),
        ("most idle sockets on one hub", "", f"{rc['most_idle']['held']:,} at {rc['most_idle']['rss_mb']:.0f} MB", "", ""),
        ("propagation p50 / p99 (ms) at 1,000/s", "", f"{fmt(rc['propagation_ms'].get('p50'))} / {fmt(rc['propagation_ms'].get('p99'))}", "",
         f"raw NOTIFY→LISTEN {fmt(rc['notify_ms'].get('p50'))} / {fmt(rc['notify_ms'].get('p99'))}"),
        ("open → online at watcher p50 / p99 (ms)", "", f"{fmt((rc.get('propagation_from_open_ms') or {}).get('p50'))} / {fmt((rc.get('propagation_from_open_ms') or {}).get('p99'))}", "",
         "includes the open's commit"),
        (f"cross-hub messages/s (50,000 offered, senders' window {rc.get('message_window')})",
         fmt((bare.get("messages") or {}).get("delivered_per_second"), 0),
         fmt((rc.get("messages") or {}).get("delivered_per_second"), 0), "",
         f"{delivered(rc) / max(delivered(bare), 1):.0%} of bare relay; p99 {fmt((rc.get('message_latency_ms') or {}).get('p99'))} ms"
         f" against {fmt((bare.get('message_latency_ms') or {}).get('p99'))} (target p99 ≤ 1,000 ms)"),
    ]
    header = ("figure", "bare Hummingbird WS", "RollCall", "--max-batch 1", "ratio")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    line = lambda r: "| " + " | ".join(str(r[i]).ljust(widths[i]) for i in range(5)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    every = lambda figures: figures["hub_cpu_ms"] + (figures["pg_cpu_ms"] or 0) + figures["load_cpu_ms"]
    print(f"\nCPU of every process per connect+close (ms): bare {every(bare):.3f} (server {bare['hub_cpu_ms']:.3f}, load {bare['load_cpu_ms']:.3f});"
          f" RollCall {every(rc):.3f} (hubs {rc['hub_cpu_ms']:.3f}, PostgreSQL {rc['pg_cpu_ms']:.3f}, load {rc['load_cpu_ms']:.3f}):"
          f" bare / RollCall = {every(bare) / every(rc):.0%}, the connects/s ratio to expect while the cores are the limit")
    per_message = lambda figures: ", ".join(f"{name} {us:.0f}" for name, us in (figures.get("message_cpu_us") or {}).items())
    print(f"CPU per message delivered (µs): RollCall: {per_message(rc)}; bare relay: {per_message(bare)}")
    errors = {f"{k} {kind}": v[kind] for k, v in f.items() for kind in ("errors", "propagation_errors", "message_errors") if v.get(kind)}
    if errors:
        print(f"\nerrors: {json.dumps(errors)}")
