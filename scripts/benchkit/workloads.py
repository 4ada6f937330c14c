"""What a bench run does to the servers, each returning its figures."""

import json
import threading
import time
import urllib.request

from . import redis_recipe
from .cluster import Cluster
from .procfs import children_cpu, cpu_seconds, postgres_cpu, postgres_cpu_by_process, rss_bytes, socket_count
from .processes import Binaries, load, open_on_hub, start_bare, start_hub, start_load, stop_all, transactions


def churn(servers, urls, connections, postmaster=None, prefix="churn", extra=()):
    """Opens `connections` sockets over `urls` (then closes them); CPU of servers and PostgreSQL over the run.
    `extra`: more `rollcall load` options (--room-rounds: each socket also joins, changes state and leaves)."""
    before = [cpu_seconds(s.pid) for s in servers]
    pg_before = postgres_cpu(postmaster) if postmaster else 0
    load_before = children_cpu()
    summary = load(["--hubs", ",".join(urls), "--connections", str(connections), "--concurrency", "64", "--user-prefix", prefix,
                    *extra])
    load_cpu = children_cpu() - load_before
    hub_cpu = sum(cpu_seconds(s.pid) - b for s, b in zip(servers, before))
    pg_cpu = postgres_cpu(postmaster) - pg_before if postmaster else None
    welcomed = summary["connections"]["welcomed"]
    return {
        "connects_per_second": summary["connects_per_second"],
        "hub_cpu_ms": hub_cpu * 1000 / max(welcomed, 1),
        "pg_cpu_ms": pg_cpu * 1000 / max(welcomed, 1) if pg_cpu is not None else None,
        "load_cpu_ms": load_cpu * 1000 / max(welcomed, 1),
        "errors": summary["errors"],
        "welcomed": welcomed,
        "rooms": summary.get("rooms"),
    }


def idle(server, url, connections, window, cluster=None, database=None, prefix="idle", welcomed=None):
    """Holds `connections` sockets on one server: RSS per socket, CPU while idle, rows written.
    `welcomed` reads how many sockets the server has welcomed (default: its open sockets)."""
    time.sleep(1)
    base = rss_bytes(server.pid)
    base_sockets = socket_count(server.pid)
    hold = window + (80 if cluster else 20)  # room for the stats to settle before the window
    loader = start_load(["--limit", "600s", "--hubs", url, "--connections", str(connections), "--concurrency", "64",
                         "--hold", f"{hold}s", "--user-prefix", prefix])
    # Wait until every socket is open: the server's socket count, read from /proc.
    deadline = time.time() + 240
    count = welcomed or (lambda: socket_count(server.pid) - base_sockets)
    while time.time() < deadline and count() < connections and loader.poll() is None:
        time.sleep(0.5)
    held = count()
    time.sleep(3)  # let the opens' work settle
    rows_before = cluster.settled_rows_written(database) if cluster else None
    cpu_before = cpu_seconds(server.pid)
    time.sleep(window)
    idle_cpu = (cpu_seconds(server.pid) - cpu_before) / window
    rows = cluster.rows_written(database) - rows_before if cluster else None
    rss = rss_bytes(server.pid)
    out, err = loader.communicate(timeout=hold + 300)
    summary = json.loads(out) if out.strip() else {"errors": {"load": err[-500:]}}
    return {
        "held": held,
        "rss_per_socket_kb": (rss - base) / max(held, 1) / 1024,
        "rss_mb": rss / 1024 / 1024,
        "idle_cpu_ms_per_s": idle_cpu * 1000,
        "rows_written_per_idle": rows / max(held, 1) if rows is not None else None,
        "errors": summary.get("errors", {}),
    }


# Sends a sender of the messages phase keeps unanswered (the load's --message-window): past
# capacity, acks come later and the senders slow down, as callers of the client library's send
# (which returns at the ack) would. 0: every send on its schedule whatever the server answers.
MESSAGE_WINDOW = 4


def relay_messages(senders, receivers, seconds, processes, postmaster=None, window=MESSAGE_WINDOW):
    """Senders on `senders` send to receivers on `receivers`, 50,000 messages/s offered, each
    keeping at most `window` sends unanswered. Also the CPU each process spent per message
    delivered: `processes` (name → Server), PostgreSQL's and the load generator's (the only child
    reaped while it runs)."""
    before = {name: cpu_seconds(server.pid) for name, server in processes.items()}
    pg_before = postgres_cpu(postmaster) if postmaster else None
    load_before = children_cpu()
    messages = load(["--hubs", senders, "--watch-hubs", receivers, "--connections", "1",
                     "--message-rate", "50000", "--message-duration", f"{seconds}s", "--message-window", str(window),
                     "--concurrency", "256",
                     "--user-prefix", "msg"])
    load_cpu = children_cpu() - load_before
    spent = {name: cpu_seconds(server.pid) - before[name] for name, server in processes.items()}
    if postmaster:
        spent["postgres"] = postgres_cpu(postmaster) - pg_before
    spent["load"] = load_cpu
    delivered = max((messages.get("messages") or {}).get("delivered") or 0, 1)
    return {"messages": messages.get("messages"), "message_latency_ms": messages.get("message_latency_ms"),
            "message_errors": messages["errors"], "message_window": window,
            "message_cpu_us": {name: seconds * 1e6 / delivered for name, seconds in spent.items()}}


def writer_backlog_peak(port, during):
    """Runs `during()` while sampling the hub on `port`'s `rollcall_registry_pending` four times a
    second; returns what `during` returned and the highest backlog seen."""
    peak = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                for line in text.splitlines():
                    if line.startswith("rollcall_registry_pending "):
                        peak[0] = max(peak[0], float(line.split()[-1]))
            except OSError:
                pass
            done.wait(0.25)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = during()
    finally:
        done.set()
        sampler.join()
    return result, int(peak[0])


def churn_pairs(rounds, variants):
    """The churn with each variant of the hubs, `(label, binary, flags)`, each run beside the bare
    server's and, when redis-server is there, the advice's recipe in Redis: hub CPU, PostgreSQL
    CPU against Redis's, and connects/s. The order is reversed every other round, so that no
    variant always runs first on a fresh cluster."""
    cluster = Cluster()
    try:
        for round in range(rounds):
            for index, (label, binary, flags) in enumerate(variants if round % 2 == 0 else variants[::-1]):
                bare = start_bare()
                base = churn([bare], ["ws://127.0.0.1:18090"], 3000)
                bare.stop()
                redis = redis_recipe.churn(redis_recipe.CONNECTS)["redis_cpu_ms"] if redis_recipe.available() else None
                database = f"pairs_{round}_{index}"
                cluster.create(database)
                hubs = [start_hub(cluster, database, 18081 + i, f"pairs-{i}", flags, binary) for i in range(2)]
                committed = sum(transactions(18081 + i) for i in range(2))
                by_process = postgres_cpu_by_process(cluster.postmaster)
                run = churn(hubs, ["ws://127.0.0.1:18081", "ws://127.0.0.1:18082"], 3000, cluster.postmaster)
                split = postgres_split(by_process, postgres_cpu_by_process(cluster.postmaster), cluster.backend_kinds(database),
                                       run["welcomed"])
                cluster.settle(database)
                # Opens and closes (2 per socket); grace finishes come on top.
                per_transaction = 6000 / max(sum(transactions(18081 + i) for i in range(2)) - committed, 1)
                for hub in hubs:
                    hub.stop()
                print(f"round {round + 1} {label:24}  hub {run['hub_cpu_ms']:.3f} ms  bare {base['hub_cpu_ms']:.3f} ms"
                      f"  ratio {run['hub_cpu_ms'] / base['hub_cpu_ms']:.2f}  PostgreSQL {run['pg_cpu_ms']:.3f} ms"
                      + (f" = {run['pg_cpu_ms'] / redis:.1f}× Redis {redis:.3f} ms" if redis else "") +
                      f"  connects/s {run['connects_per_second']:.0f} vs {base['connects_per_second']:.0f}"
                      f"  opens+closes per transaction {per_transaction:.1f}"
                      f"  errors {run['errors'] or base['errors'] or 'none'}"
                      f"\n    PostgreSQL by process: " + ", ".join(f"{kind} {ms:.3f} ms" for kind, ms in split if ms >= 0.0005), flush=True)
    finally:
        stop_all()
        cluster.stop()


def postgres_split(before, after, kinds, connects):
    """PostgreSQL's CPU per connect+close between two `postgres_cpu_by_process` readings, by what
    each process is (`kinds`, read after them, so sessions opened in between are named too), most
    first. Exited backends (autovacuum workers, sessions that ended) count under the postmaster."""
    spent = {}
    for pid, cpu in after.items():
        kind = "postmaster and exited backends" if pid == "postmaster" else kinds.get(pid, "backends gone before they were named")
        spent[kind] = spent.get(kind, 0) + (cpu - before.get(pid, 0)) * 1000 / max(connects, 1)
    return sorted(spent.items(), key=lambda item: -item[1])


def reconnect_storm(connections=10_000, concurrency=1000):
    """`connections` sockets held on hub A; hub A stopped (its sockets closed with 1001); then every
    one of their users connects to hub B at once. Time until all are welcomed (the load's own clock),
    errors, and PostgreSQL's and hub B's CPU over the storm."""
    cluster = Cluster()
    try:
        database = "storm"
        cluster.create(database)
        a = start_hub(cluster, database, 18081, "storm-a", [])
        b = start_hub(cluster, database, 18082, "storm-b", [])
        holder = start_load(["--limit", "600s", "--hubs", "ws://127.0.0.1:18081", "--connections", str(connections),
                             "--concurrency", "256", "--hold", "300s", "--user-prefix", "storm"])
        deadline = time.time() + 240
        while time.time() < deadline and open_on_hub(18081) < connections and holder.poll() is None:
            time.sleep(0.5)
        held = open_on_hub(18081)
        a.stop()
        pg_before, b_before = postgres_cpu(cluster.postmaster), cpu_seconds(b.pid)
        summary = load(["--hubs", "ws://127.0.0.1:18082", "--connections", str(connections), "--concurrency", str(concurrency),
                        "--user-prefix", "storm"])
        pg_cpu, b_cpu = postgres_cpu(cluster.postmaster) - pg_before, cpu_seconds(b.pid) - b_before
        holder.kill()
        holder.wait()
        b.stop()
        return {
            "held_on_a": held,
            "welcomed_on_b": summary["connections"]["welcomed"],
            "storm_seconds": summary["seconds"],
            "time_to_welcome_ms": summary["time_to_welcome_ms"],
            "errors": summary["errors"],
            "postgres_cpu_s": pg_cpu,
            "hub_b_cpu_s": b_cpu,
        }
    finally:
        stop_all()
        cluster.stop()
