"""PostgreSQL's CPU per connect+close for variants of the schema, side by side: each variant in a
database of its own on one cluster, the same pgbench churn (Benchmarks/churn.pgbench) run against
each in turn, alternating order every round. Run as `scripts/pgchurn [--rounds N] [--transactions T]`.
"""

import argparse
import os
import subprocess
import tempfile
import time

from .cluster import Cluster
from .processes import ROOT, Binaries, log
from .procfs import postgres_cpu

SCRIPT = os.path.join(ROOT, "Benchmarks", "churn.pgbench")
ROOMS = os.path.join(ROOT, "Benchmarks", "rooms.pgbench")
ROOM_STATES = os.path.join(ROOT, "Benchmarks", "room-states.pgbench")

# The counters as the writer kept them until migration 005: an upsert to create and lock the
# users, then an update applying the batch's deltas (two new row versions per user per batch).
def _counters_before(delta, online, online_since, version):
    return ("INSERT INTO rollcall.users AS u (user_id) SELECT 'u' || :n || '-' || i FROM generate_series(1, 20) AS i ORDER BY 1 "
            "ON CONFLICT (user_id) DO UPDATE SET user_id = u.user_id RETURNING u.user_id, u.online;\n"
            f"UPDATE rollcall.users AS u SET connections = u.connections {delta}, online = {online}, online_since = {online_since}, "
            f"offline_pending_since = NULL, last_seen_at = now(), version = u.version + {version} "
            "FROM generate_series(1, 20) AS i WHERE u.user_id = 'u' || :n || '-' || i RETURNING u.user_id, u.connections, u.online, u.version, now();")


def _connection_statements():
    """The open's insert and the close's update, as the churn script has them."""
    lines = open(SCRIPT).read().splitlines()
    return ([line for line in lines if line.startswith("INSERT INTO rollcall.connections")][0],
            [line for line in lines if line.startswith("UPDATE rollcall.connections")][0])


# A sketch of the live set apart from the history: open rows in a small table of their own, a close
# that moves the row to an append-only history (time columns on BRIN) instead of rewriting it.
_LIVE_AND_HISTORY = [
    "CREATE TABLE rollcall.live (connection_id uuid PRIMARY KEY, user_id text NOT NULL, server_id text NOT NULL, "
    "user_agent text, remote_addr inet, created_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX live_by_user ON rollcall.live (user_id)",
    "CREATE INDEX live_by_server ON rollcall.live (server_id)",
    "CREATE TABLE rollcall.history (connection_id uuid NOT NULL, user_id text NOT NULL, server_id text NOT NULL, user_agent text, "
    "remote_addr inet, created_at timestamptz NOT NULL, disconnected_at timestamptz NOT NULL, close_reason text NOT NULL, closed_in xid8 NOT NULL)",
    "CREATE INDEX history_by_id ON rollcall.history (connection_id)",
    "CREATE INDEX history_by_user_created ON rollcall.history (user_id, created_at DESC)",
    "CREATE INDEX history_closed_in ON rollcall.history (closed_in)",
    "CREATE INDEX history_created_at ON rollcall.history USING brin (created_at)",
    "CREATE INDEX history_disconnected_at ON rollcall.history USING brin (disconnected_at)",
    "ALTER TABLE rollcall.live SET (autovacuum_enabled = false)",
    "ALTER TABLE rollcall.history SET (autovacuum_enabled = false)",
]


def _live_and_history_statements():
    insert, update = _connection_statements()
    return [
        (insert, insert.replace("INSERT INTO rollcall.connections", "INSERT INTO rollcall.live")),
        (update, "WITH gone AS (DELETE FROM rollcall.live AS l USING unnest(:ids::uuid[]) AS t(id) WHERE l.connection_id = t.id RETURNING l.*) "
                 "INSERT INTO rollcall.history SELECT connection_id, user_id, server_id, user_agent, remote_addr, created_at, now(), "
                 "'client_closed', pg_current_xact_id() FROM gone "
                 "RETURNING connection_id, user_id, server_id, user_agent, disconnected_at, close_reason;"),
    ]


# The history in one table as before migration 007 (its rows, indexes and trigger on the table
# itself), for the variants that price the monthly partitions.
_ONE_TABLE = [
    "CREATE TABLE rollcall.flat (LIKE rollcall.connections INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)",
    "DROP TABLE rollcall.connections CASCADE",
    "ALTER TABLE rollcall.flat RENAME TO connections",
    "CREATE TRIGGER closed_rows_name_their_transaction BEFORE INSERT OR UPDATE ON rollcall.connections "
    "FOR EACH ROW WHEN (NOT NEW.connected AND NEW.closed_in IS NULL) EXECUTE FUNCTION rollcall.stamp_close()",
]
# Random (version 4) ids, as the hubs made them before migration 007.
_RANDOM_IDS = ("rollcall.new_connection_id()", "md5(:n || '-' || i)::uuid")


def _on_history(statement):
    """`statement` (a format with {table}) for the history table itself or, when it is partitioned, for each partition."""
    return ("DO $$ DECLARE part regclass; BEGIN "
            "FOR part IN SELECT 'rollcall.connections'::regclass WHERE NOT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = 'rollcall.connections'::regclass) "
            "UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'rollcall.connections'::regclass "
            f"LOOP EXECUTE format('{statement}', part); END LOOP; END $$")


def _with_outbox():
    """Each batch also writes its 20 transitions' webhooks, as a writer with --webhook-url does."""
    online, offline = _counter_statements()
    def outbox(kind):
        # A body the size of a real one; a colon is never followed by a letter or digit, which pgbench would read as a variable.
        return ("INSERT INTO rollcall.webhook_outbox (id, type, user_id, body) SELECT gen_random_uuid(), '" + kind + "', 'u' || :n || '-' || i, "
                "'{\"at\": \"2026-12-02T19.00.00.000Z\", \"connections\": 1, \"id\": \"0190a3c4-5d2e-7f00-8a00-000000000000\", \"type\": \"" + kind
                + "\", \"user_id\": \"u-' || i || '\", \"version\": 1}' FROM generate_series(1, 20) AS i;")
    return [(online, online + "\n" + outbox("user.online")), (offline, offline + "\n" + outbox("user.offline"))]


def _counter_statements():
    return [line for line in open(SCRIPT).read().splitlines() if line.startswith("INSERT INTO rollcall.users")]


# (label, SQL run after the migrations, a sed-style replacement applied to the script or None)
VARIANTS = [
    ("as migrated", [], None),
    ("without connections_open_by_user", ["DROP INDEX rollcall.connections_open_by_user"], None),
    ("created_at and closed_by_time as BRIN", [
        "DROP INDEX rollcall.connections_created_at", "DROP INDEX rollcall.connections_closed_by_time",
        "CREATE INDEX connections_created_at ON rollcall.connections USING brin (created_at)",
        "CREATE INDEX connections_closed_by_time ON rollcall.connections USING brin (disconnected_at)",
    ], None),
    ("without the counters (no statement on users)", [], [(line + "\n", "") for line in _counter_statements()]),
    ("without the NOTIFYs", [], [("SELECT pg_notify('rollcall_presence', repeat('x', 2000));\n", "")]),
    ("counters as before migration 005 (lock, then update)", [], list(zip(_counter_statements(), [
        _counters_before("+ 1", "true", "CASE WHEN u.online THEN u.online_since ELSE now() END", "CASE WHEN NOT u.online THEN 1 ELSE 0 END"),
        _counters_before("- 1", "false", "NULL", "1"),
    ]))),
    ("closes as before migration 006 (no closed_in, its index or trigger)", [
        "DROP INDEX rollcall.connections_closed_in", "DROP TRIGGER closed_rows_name_their_transaction ON rollcall.connections",
    ], [(", closed_in = pg_current_xact_id() FROM unnest", " FROM unnest")]),
    ("transactions alone: BEGIN, the transaction id, COMMIT", [], [(line + "\n", "") for line in (
        *_connection_statements(), *_counter_statements(), "SELECT pg_notify('rollcall_presence', repeat('x', 2000));")]),
    ("live set apart from history (a sketch: a close moves the row)", _LIVE_AND_HISTORY, _live_and_history_statements()),
    ("HOT close: no index on what a close changes, fillfactor 70", [
        "DROP INDEX rollcall.connections_open_by_user", "DROP INDEX rollcall.connections_open_by_server",
        "DROP INDEX rollcall.connections_closed_by_time", "DROP INDEX rollcall.connections_closed_in",
        _on_history("ALTER TABLE %s SET (fillfactor = 70)"),
    ], None),
    ("with the webhook outbox (--webhook-url: a row per transition)", [], _with_outbox()),
    ("random version 4 ids (into the default partition)", [], [_RANDOM_IDS]),
    ("one table, time-ordered ids (no partitions)", _ONE_TABLE, None),
    ("one table, random ids (as before migration 007)", _ONE_TABLE, [_RANDOM_IDS]),
    ("floor: connections with its primary key alone", [
        "DROP INDEX rollcall.connections_open_by_user", "DROP INDEX rollcall.connections_open_by_server",
        "DROP INDEX rollcall.connections_closed_by_time", "DROP INDEX rollcall.connections_by_user_created",
        "DROP INDEX rollcall.connections_created_at", "DROP INDEX rollcall.connections_closed_in",
    ], None),
]


# --rooms: what rooms cost beside presence. (label, setup, script); each transaction is 20 of the thing.
ROOM_WORKLOADS = [
    ("as migrated", [], SCRIPT),
    ("join+leave (Benchmarks/rooms.pgbench)", [
        "INSERT INTO rollcall.rooms (room) SELECT 'room-' || i FROM generate_series(0, 99) AS i",
    ], ROOMS),
    ("state change (Benchmarks/room-states.pgbench)", [
        "INSERT INTO rollcall.rooms (room, version, members) SELECT 'room-' || i, 1, 1 FROM generate_series(1, 20) AS i",
        "INSERT INTO rollcall.room_members (room, connection_id, user_id, server_id, state, joined_at, since, present, began_at_version) "
        "SELECT 'room-' || i, format('00000000-0000-7000-8000-%s', lpad(i::text, 12, '0'))::uuid, 'member-' || i, 'hub-a', '{}', now(), now(), true, 1 "
        "FROM generate_series(1, 20) AS i",
    ], ROOM_STATES),
]


def script_for(replacement, directory):
    if replacement is None:
        return SCRIPT
    if isinstance(replacement, str):
        return replacement
    text = open(SCRIPT).read()
    for old, new in replacement if isinstance(replacement, list) else [replacement]:
        if old not in text:
            raise SystemExit(f"the churn script no longer holds {old!r}")
        text = text.replace(old, new)
    path = os.path.join(directory, f"churn-{abs(hash(text))}.pgbench")
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transactions", type=int, default=1000, help="pgbench transactions per run (20 connects+closes each)")
    parser.add_argument("--only", action="append", metavar="TEXT", help="only the variants whose label holds TEXT (and the baseline)")
    parser.add_argument("--rooms", action="store_true",
                        help="instead of schema variants: PostgreSQL's CPU per join+leave and per state change, beside connect+close")
    options = parser.parse_args()
    Binaries.find()
    variants = ROOM_WORKLOADS if options.rooms else [
        v for v in VARIANTS if v[0] == "as migrated" or not options.only or any(t in v[0] for t in options.only)]
    cluster = Cluster()
    directory = tempfile.mkdtemp(prefix="rollcall-pgchurn-")
    try:
        pgbench = cluster.binary("pgbench")
        results = {label: [] for label, _, _ in variants}
        for index, (label, setup, _) in enumerate(variants):
            database = f"churn_{index}"
            cluster.create(database)
            subprocess.run([Binaries.rollcall, "migrate", "--database-url", cluster.url(database), "--log-level", "warning"],
                           check=True, capture_output=True)
            # Autovacuum runs when it will, and its CPU would land on whichever variant runs then:
            # it is off, so each figure is the churn's own statements (what vacuuming costs is apart).
            quiet = [_on_history("ALTER TABLE %s SET (autovacuum_enabled = false)"),
                     "ALTER TABLE rollcall.users SET (autovacuum_enabled = false)",
                     "ALTER TABLE rollcall.webhook_outbox SET (autovacuum_enabled = false)"]
            # Rooms are few rows changed again and again: without vacuum, the partial index of
            # present members fills with entries of members long gone and every join reads more.
            # With --rooms autovacuum runs for every workload, and its CPU is in every figure.
            if options.rooms:
                quiet = []
            for statement in setup + quiet + ["INSERT INTO rollcall.servers (server_id, version, host) VALUES ('hub-a', 'bench', 'here')"]:
                cluster.psql(statement, database)
        for round in range(options.rounds + 1):
            order = list(enumerate(variants))
            for index, (label, _, replacement) in (order if round % 2 == 0 else order[::-1]):
                database = f"churn_{index}"
                before = postgres_cpu(cluster.postmaster)
                subprocess.run([pgbench, "-n", "-M", "prepared", "-t", str(options.transactions), "-f", script_for(replacement, directory),
                                "-h", cluster.socket_directory, "-p", str(cluster.port), "-U", cluster.user, database],
                               check=True, capture_output=True)
                # pgbench's backend has exited; its CPU counts once the postmaster has reaped it.
                time.sleep(1)
                spent = postgres_cpu(cluster.postmaster) - before
                per = spent * 1000 / (options.transactions * 20)
                if round == 0:
                    continue  # a warm-up: the first writes of each database (its files, its caches) are not the churn's
                results[label].append(per)
                log(f"round {round}  {label:58}  {per:.4f} ms per one of 20 in a transaction")
        base = sum(results["as migrated"]) / len(results["as migrated"])
        unit = "operation (connect+close, join+leave, state change)" if options.rooms else "connect+close"
        print(f"| PostgreSQL CPU per {unit}, {options.rounds} rounds of {options.transactions * 20:,} | each round (ms) | mean | against as migrated |")
        print("|---|---|---|---|")
        for label, values in results.items():
            mean = sum(values) / len(values)
            print(f"| {label} | {' / '.join(f'{v:.4f}' for v in values)} | {mean:.4f} | {mean / base:.2f}× |")
    finally:
        cluster.stop()
