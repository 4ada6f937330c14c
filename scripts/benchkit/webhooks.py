"""Webhooks in the bench: a receiver on loopback, what the outbox and its delivery cost PostgreSQL
per connect+close, and how fast two hubs drain a backlog."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .cluster import Cluster
from .procfs import cpu_seconds, postgres_cpu
from .processes import log, start_hub, stop_all
from .workloads import churn

RECEIVER_PORT = 18095
WEBHOOK_SECRET = "bench-webhook-secret-of-at-least-32-bytes"


class Receiver:
    """Answers every POST 204 over keep-alive connections and counts them; runs in this process."""

    def __init__(self):
        receiver = self
        self.count = 0
        self.lock = threading.Lock()

        class Hook(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(204)
                self.end_headers()
                with receiver.lock:
                    receiver.count += 1

            def log_message(self, *arguments):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", RECEIVER_PORT), Hook)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{RECEIVER_PORT}/hook"

    def stop(self):
        self.server.shutdown()


def hook_options(receiver):
    return ["--webhook-url", receiver.url, "--webhook-secret", WEBHOOK_SECRET]


def pending(cluster, database):
    return int(cluster.psql("SELECT count(*) FROM rollcall.webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL", database))


def drain(cluster, database, limit=300):
    """Waits until every webhook is delivered (or failed); polls twice a second."""
    deadline = time.time() + limit
    while pending(cluster, database) and time.time() < deadline:
        time.sleep(0.5)


def churn_with_and_without(cluster, receiver, round, connections):
    """The churn on two fresh hubs without webhooks and with them, alternating which goes first.
    CPU runs from the first open until the users are offline and, with webhooks, every event has
    been delivered: the outbox rows, their leases and their marks as delivered."""
    figures = {}
    variants = [("off", []), ("on", hook_options(receiver))]
    for label, extra in (variants if round % 2 else variants[::-1]):
        database = f"bench_hooks_{round}_{label}"
        cluster.create(database)
        a = start_hub(cluster, database, 18081, "bench-a", extra)
        b = start_hub(cluster, database, 18082, "bench-b", extra)
        cluster.settle(database)
        received = receiver.count
        pg_before, hubs_before = postgres_cpu(cluster.postmaster), cpu_seconds(a.pid) + cpu_seconds(b.pid)
        run = churn([a, b], ["ws://127.0.0.1:18081", "ws://127.0.0.1:18082"], connections, prefix=f"hooks{round}{label}")
        pg_churned, churned = postgres_cpu(cluster.postmaster), time.time()
        cluster.settle(database)
        drain(cluster, database)
        pg, hubs = postgres_cpu(cluster.postmaster) - pg_before, cpu_seconds(a.pid) + cpu_seconds(b.pid) - hubs_before
        log(f"{label}: PostgreSQL {pg_churned - pg_before:.2f} s during the churn, {pg - (pg_churned - pg_before):.2f} s in the "
            f"{time.time() - churned:.1f} s until settled and delivered")
        a.stop()
        b.stop()
        events = int(cluster.psql("SELECT count(*) FROM rollcall.webhook_outbox", database))
        figures[label] = {"pg_cpu_ms": pg * 1000 / run["welcomed"], "hub_cpu_ms": hubs * 1000 / run["welcomed"], "events": events,
                          "received": receiver.count - received, "errors": run["errors"]}
    return figures


def backlog_drain(cluster, receiver, round, events, users):
    """`events` webhooks of `users` users written straight into the outbox, then two hubs with
    webhooks on started: deliveries per second until the last is delivered, and CPU per delivery."""
    database = f"bench_hooks_drain_{round}"
    cluster.create(database)
    # A hub without webhooks migrates the database, then stops.
    start_hub(cluster, database, 18081, "bench-migrate", []).stop()
    cluster.psql(f"""
        INSERT INTO rollcall.webhook_outbox (id, type, user_id, body)
        SELECT gen_random_uuid(), CASE WHEN n % 2 = 0 THEN 'user.online' ELSE 'user.offline' END, 'drain-' || (n % {users}),
               json_build_object('id', gen_random_uuid(), 'type', 'user.online', 'user_id', 'drain-' || (n % {users}),
                                 'at', now(), 'version', n / {users} + 1, 'connections', 1)::text
        FROM generate_series(0, {events - 1}) n""", database)
    cluster.psql("VACUUM ANALYZE rollcall.webhook_outbox", database)
    received = receiver.count
    pg_before = postgres_cpu(cluster.postmaster)
    begun = time.time()
    a = start_hub(cluster, database, 18081, "bench-a", hook_options(receiver))
    b = start_hub(cluster, database, 18082, "bench-b", hook_options(receiver))
    hubs_before = cpu_seconds(a.pid) + cpu_seconds(b.pid)
    deadline = time.time() + 600
    while receiver.count - received < events and time.time() < deadline:
        time.sleep(0.05)
    seconds = time.time() - begun
    drain(cluster, database)
    pg, hubs = postgres_cpu(cluster.postmaster) - pg_before, cpu_seconds(a.pid) + cpu_seconds(b.pid) - hubs_before
    a.stop()
    b.stop()
    delivered = int(cluster.psql("SELECT count(*) FROM rollcall.webhook_outbox WHERE delivered_at IS NOT NULL", database))
    return {"events": events, "users": users, "delivered": delivered, "received": receiver.count - received,
            "deliveries_per_second": round_figure(delivered / seconds), "pg_cpu_us": pg * 1e6 / max(delivered, 1),
            "hub_cpu_us": hubs * 1e6 / max(delivered, 1)}


def round_figure(value):
    return int(value + 0.5)


def webhook_pairs(rounds, connections, backlog):
    cluster = Cluster()
    receiver = Receiver()
    rows = []
    try:
        for round in range(1, rounds + 1):
            row = churn_with_and_without(cluster, receiver, round, connections)
            row["drain"] = backlog_drain(cluster, receiver, round, backlog, backlog // 4)
            rows.append(row)
            log(f"round {round}: {json.dumps(row, sort_keys=True)}")
    finally:
        stop_all()
        receiver.stop()
        cluster.stop()
    print("| round | PostgreSQL CPU per connect+close, webhooks off | on (outbox + delivery) | ratio | hub CPU per c+c off | on "
          "| webhooks (received) | backlog drained per second | PostgreSQL CPU per delivery | hubs' CPU per delivery |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        off, on, drained = row["off"], row["on"], row["drain"]
        print(f"| {rows.index(row) + 1} | {off['pg_cpu_ms']:.3f} ms | {on['pg_cpu_ms']:.3f} ms | {on['pg_cpu_ms'] / off['pg_cpu_ms']:.2f}× "
              f"| {off['hub_cpu_ms']:.3f} ms | {on['hub_cpu_ms']:.3f} ms | {on['events']} ({on['received']}) "
              f"| {drained['deliveries_per_second']:,} ({drained['delivered']:,} of {drained['events']:,}, {drained['users']:,} users) "
              f"| {drained['pg_cpu_us']:.0f} µs | {drained['hub_cpu_us']:.0f} µs |")
