"""Runs the bench: see scripts/bench for what it measures."""

import argparse
import json
import os
import subprocess

from . import redis_recipe
from .cluster import Cluster
from .processes import SECRET, Binaries, load, log, open_on_hub, start_bare, start_hub, stop_all
from .report import print_table
from .webhooks import webhook_pairs
from .workloads import MESSAGE_WINDOW, churn, churn_pairs, idle, reconnect_storm, relay_messages, writer_backlog_peak


def main(description=__doc__):
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--executor-pairs", type=int, metavar="N",
                        help="only the churn, N times with --executor pool then event-loops, each beside the bare server")
    parser.add_argument("--linger-pairs", type=int, metavar="N",
                        help="only the churn, N times with --batch-linger 0, 5ms and 20ms, each beside the bare server")
    parser.add_argument("--against", metavar="BINARY",
                        help="only the churn, with this build's hubs and then with BINARY's (another build of rollcall), each beside the bare server")
    parser.add_argument("--pairs", type=int, metavar="N", help="rounds of --against (default 3); with --messages, the messages instead of the churn")
    parser.add_argument("--storm", action="store_true",
                        help="only the reconnect storm: 10,000 sockets on hub A, A stopped, all of them to hub B at once")
    parser.add_argument("--messages", action="store_true",
                        help="only the cross-hub messages past capacity (50,000/s offered), the bare relay's and the hubs', "
                             "with the highest backlog hub A's writer reached: senders that wait for acks, then senders that do not")
    parser.add_argument("--rooms-pairs", type=int, metavar="N",
                        help="only rooms: N rounds of a churn, then the same churn with each socket joining, changing its state "
                             "and leaving a room; what the room changes added, per socket, beside the connect+close")
    parser.add_argument("--redis-pairs", type=int, metavar="N",
                        help="only the churn, N times, each beside the bare server and the advice's recipe in Redis")
    parser.add_argument("--webhook-pairs", type=int, metavar="N",
                        help="only webhooks: N rounds of the churn without and with webhooks to a receiver on loopback "
                             "(PostgreSQL's CPU per connect+close, delivery included), then a backlog drained by two hubs")
    options = parser.parse_args()
    Binaries.find()
    ROLLCALL = Binaries.rollcall
    if options.executor_pairs:
        return churn_pairs(options.executor_pairs, [(f"--executor {v}", ROLLCALL, ["--executor", v]) for v in ["pool", "event-loops"]])
    if options.linger_pairs:
        return churn_pairs(options.linger_pairs, [(f"--batch-linger {v}", ROLLCALL, ["--batch-linger", v]) for v in ["0", "5ms", "20ms"]])
    if options.storm:
        storm = reconnect_storm(2000 if options.quick else 10_000)
        print(json.dumps(storm, indent=2, sort_keys=True))
        return
    if options.messages and options.against:
        return messages_pairs(options.pairs or 3, [("this build", ROLLCALL), (os.path.basename(options.against), options.against)])
    if options.messages:
        return messages_only(2 if options.quick else 5, [MESSAGE_WINDOW, 0])
    if options.redis_pairs:
        return churn_pairs(options.redis_pairs, [("this build", ROLLCALL, [])])
    if options.rooms_pairs:
        return rooms_pairs(options.rooms_pairs, 600 if options.quick else 3000)
    if options.webhook_pairs:
        return webhook_pairs(options.webhook_pairs, 600 if options.quick else 3000, 2000 if options.quick else 20_000)
    if options.against:
        rounds = options.pairs or 3
        return churn_pairs(rounds, [("this build", ROLLCALL, []), (os.path.basename(options.against), options.against, [])])
    churn_count = 600 if options.quick else 3000
    idle_count = 2000 if options.quick else 10_000
    most = 3000 if options.quick else 18_000
    # Idle CPU over one whole auto-ping period (30 s, both servers): every socket is pinged once in it.
    window = 3 if options.quick else 30
    transitions = 1000 if options.quick else 5000
    message_seconds = 2 if options.quick else 5

    figures = {}
    if redis_recipe.available():
        log("the advice's recipe in Redis")
        figures["redis"] = redis_recipe.churn(redis_recipe.CONNECTS)
    else:
        log("redis-server is missing (Debian: apt-get install redis-server): no Redis figure")
    cluster = Cluster()
    try:
        log("bare Hummingbird WebSocket server")
        bare = start_bare()
        figures["bare"] = churn([bare], ["ws://127.0.0.1:18090"], churn_count)
        bare.stop()
        # Idle sockets on a fresh process, for the bare server as for the hub: the churn leaves tens
        # of megabytes of freed heap that later sockets reuse, which would hide their cost.
        bare = start_bare()
        figures["bare"].update(idle(bare, "ws://127.0.0.1:18090", idle_count, window))
        bare.stop()
        log("bare server relaying messages")
        bare = start_bare("--relay")
        figures["bare"].update(relay_messages("ws://127.0.0.1:18090", "ws://127.0.0.1:18090", message_seconds, {"bare": bare}))
        bare.stop()

        for label, extra in [("rollcall", []), ("max_batch_1", ["--max-batch", "1"])]:
            database = f"bench_{label}"
            cluster.create(database)
            log(f"RollCall {label}: two hubs")
            a = start_hub(cluster, database, 18081, "bench-a", extra)
            b = start_hub(cluster, database, 18082, "bench-b", extra)
            figures[label] = churn([a, b], ["ws://127.0.0.1:18081", "ws://127.0.0.1:18082"], churn_count, cluster.postmaster)
            if label == "rollcall":
                log("RollCall: idle sockets")
                cluster.settle(database)
                a.stop()
                a = start_hub(cluster, database, 18081, "bench-a", extra)
                figures[label].update(idle(a, "ws://127.0.0.1:18081", idle_count, window, cluster, database,
                                           welcomed=lambda: open_on_hub(18081)))
                log(f"RollCall: {most} idle sockets on one hub")
                cluster.settle(database)
                most_idle = idle(a, "ws://127.0.0.1:18081", most, 2, prefix="most", welcomed=lambda: open_on_hub(18081))
                figures[label]["most_idle"] = {"held": most_idle["held"], "rss_mb": most_idle["rss_mb"],
                                               "rss_per_socket_kb": most_idle["rss_per_socket_kb"], "errors": most_idle["errors"]}
                log("RollCall: propagation at 1,000 transitions/s, and raw NOTIFY at the same rate")
                cluster.settle(database)
                propagation = load(["--hubs", "ws://127.0.0.1:18081", "--watch-hubs", "ws://127.0.0.1:18082", "--watchers", "1",
                                    "--connections", str(transitions), "--rate", "1000", "--concurrency", "256", "--user-prefix", "prop"])
                figures[label]["propagation_ms"] = propagation.get("propagation_ms")
                figures[label]["propagation_from_open_ms"] = propagation.get("propagation_from_open_ms")
                figures[label]["propagation_errors"] = propagation["errors"]
                probe = subprocess.run([ROLLCALL, "notify-probe", "--database-url", cluster.url(database), "--jwt-secret", SECRET,
                                        "--count", str(transitions), "--rate", "1000", "--log-level", "warning"],
                                       capture_output=True, text=True, check=True)
                figures[label]["notify_ms"] = json.loads(probe.stdout)["notify_listen_ms"]
                log("RollCall: cross-hub messages")
                cluster.settle(database)
                # A fresh hub A, as the bare relay is a fresh process: a hub that has held 18,000
                # sockets keeps a fragmented heap, and its allocations cost more (BENCHMARKS.md, run 20).
                a.stop()
                a = start_hub(cluster, database, 18081, "bench-a", extra)
                figures[label].update(relay_messages("ws://127.0.0.1:18081", "ws://127.0.0.1:18082", message_seconds,
                                                     {"hub A": a, "hub B": b}, cluster.postmaster))
            a.stop()
            b.stop()
    finally:
        stop_all()
        cluster.stop()

    print_table(figures)
    if options.json:
        with open(options.json, "w") as f:
            json.dump(figures, f, indent=2, sort_keys=True)


def messages_only(seconds, windows):
    """The messages phase alone, once per sender window (see MESSAGE_WINDOW): the bare relay, then
    two hubs on a fresh database, each at 50,000/s offered."""
    cluster = Cluster()
    figures = {}
    try:
        for window in windows:
            senders = f"window {window}" if window else "no window"
            log(f"bare server relaying messages, senders with {senders}")
            bare = start_bare("--relay")
            figures[f"bare, {senders}"] = relay_messages("ws://127.0.0.1:18090", "ws://127.0.0.1:18090", seconds, {"bare": bare},
                                                         window=window)
            bare.stop()
            log(f"RollCall: two hubs, messages from A to B, senders with {senders}")
            figures[f"rollcall, {senders}"] = hub_messages(cluster, f"bench_messages_{window}", Binaries.rollcall, seconds, window)
        print(json.dumps(figures, indent=2, sort_keys=True))
        for label, each in figures.items():
            log(message_line(label, each))
    finally:
        stop_all()
        cluster.stop()


def hub_messages(cluster, database, binary, seconds, window=MESSAGE_WINDOW):
    """Two hubs of `binary` on a fresh database, messages from A to B past capacity."""
    cluster.create(database)
    a = start_hub(cluster, database, 18081, "bench-a", [], binary)
    b = start_hub(cluster, database, 18082, "bench-b", [], binary)
    try:
        figures, backlog = writer_backlog_peak(18081, lambda: relay_messages(
            "ws://127.0.0.1:18081", "ws://127.0.0.1:18082", seconds, {"hub_a": a, "hub_b": b}, cluster.postmaster, window))
    finally:
        a.stop()
        b.stop()
    figures["writer_backlog_peak"] = backlog
    return figures


def messages_pairs(rounds, variants, seconds=5):
    """The messages past capacity with each variant of the hubs, `(label, binary)`, alternating
    order every round: delivered/s, latency, the writer's highest backlog (0 for a build without
    rollcall_registry_pending), CPU per message."""
    cluster = Cluster()
    try:
        for round in range(1, rounds + 1):
            for label, binary in (variants if round % 2 else variants[::-1]):
                figures = hub_messages(cluster, f"bench_messages_{round}_{abs(hash(label)) % 1000}", binary, seconds)
                log(message_line(f"round {round} {label}", figures))
    finally:
        stop_all()
        cluster.stop()


def message_line(label, figures):
    """One messages run on a line: rate, latency, the writer's highest backlog (hubs of a build
    without rollcall_registry_pending: 0), CPU per message delivered."""
    messages, latency, cpu = figures["messages"] or {}, figures["message_latency_ms"] or {}, figures["message_cpu_us"]
    backlog = f"writer backlog peak {figures['writer_backlog_peak']}  " if "writer_backlog_peak" in figures else ""
    per_message = "  ".join(f"{name} {us:.0f} µs" for name, us in cpu.items() if name != "load")
    return (f"{label:28} delivered/s {messages.get('delivered_per_second')}  of {messages.get('sent')} sent, "
            f"{messages.get('delivered')} delivered  p50 {latency.get('p50', 0):.0f} ms  p99 {latency.get('p99', 0):.0f} ms  "
            f"{backlog}{per_message} per message (load {cpu.get('load', 0):.0f} µs)  errors {figures['message_errors'] or 'none'}")


def rooms_pairs(rounds, connections):
    """Two hubs on a fresh database per round: `connections` connects+closes alone, then as many
    again with a join, a state change and a leave per socket (10 rooms shared by all). The second
    run's CPU less the first's is what the room changes cost; the load's rooms phase gives their rate."""
    cluster = Cluster()
    rows = []
    try:
        for round in range(1, rounds + 1):
            database = f"bench_rooms_{round}"
            cluster.create(database)
            a = start_hub(cluster, database, 18081, "bench-a", [])
            b = start_hub(cluster, database, 18082, "bench-b", [])
            urls = ["ws://127.0.0.1:18081", "ws://127.0.0.1:18082"]
            cluster.settle(database)
            alone = churn([a, b], urls, connections, cluster.postmaster, prefix=f"plain{round}")
            cluster.settle(database)
            rooms = churn([a, b], urls, connections, cluster.postmaster, prefix=f"rooms{round}", extra=["--room-rounds", "1"])
            a.stop()
            b.stop()
            phase = rooms["rooms"] or {}
            rows.append({
                "round": round,
                "connect_close_pg_ms": alone["pg_cpu_ms"],
                "connect_close_hub_ms": alone["hub_cpu_ms"],
                "rooms_pg_ms": rooms["pg_cpu_ms"] - alone["pg_cpu_ms"],
                "rooms_hub_ms": rooms["hub_cpu_ms"] - alone["hub_cpu_ms"],
                "changes": phase.get("changes"),
                "changes_per_second": phase.get("changes_per_second"),
                "errors": {**alone["errors"], **rooms["errors"]},
            })
            log(f"round {round}: {json.dumps(rows[-1], sort_keys=True)}")
    finally:
        stop_all()
        cluster.stop()
    print(f"| round | PostgreSQL CPU per connect+close | per join+state change+leave | hub CPU per connect+close | per join+state change+leave | room changes per second (join, state, leave) | errors |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['round']} | {row['connect_close_pg_ms']:.3f} ms | {row['rooms_pg_ms']:.3f} ms | {row['connect_close_hub_ms']:.3f} ms "
              f"| {row['rooms_hub_ms']:.3f} ms | {row['changes_per_second']} ({row['changes']} in all) | {row['errors'] or 0} |")
