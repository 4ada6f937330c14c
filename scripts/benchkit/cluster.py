"""The bench's PostgreSQL: the embedded cluster `rollcall cluster start` makes, in a directory of its own."""

import json
import os
import shutil
import subprocess
import tempfile
import time

from .processes import Binaries


class Cluster:
    """A private PostgreSQL cluster reached over a unix socket in its own directory, started by
    `rollcall` as `rollcall serve` would start its embedded default."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="rollcall-bench-")
        out = subprocess.run([Binaries.rollcall, "cluster", "start", "--data-dir", self.directory, "--log-level", "warning"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"rollcall cluster start failed: {out.stderr[-2000:]}")
        where = json.loads(out.stdout)
        self.socket_directory = where["socket_directory"]
        self.port = where["port"]
        self.user = where["user"]
        self.postmaster = where["postmaster_pid"]
        self.binaries = where["binaries"]

    def binary(self, name):
        """A PostgreSQL client program from the cluster's own version (psql, pgbench)."""
        path = os.path.join(self.binaries, name)
        return path if os.path.exists(path) else name

    def url(self, database):
        return f"postgres://{self.user}@/{database}?host={self.socket_directory}&port={self.port}"

    def psql(self, sql, database="postgres"):
        out = subprocess.run([self.binary("psql"), "-h", self.socket_directory, "-p", str(self.port), "-U", self.user, "-d", database, "-Atc", sql],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def backend_kinds(self, database):
        """What each backend is, by pid: a hub's LISTEN session, one of the hubs' other sessions
        (the writer's, the readers'), or PostgreSQL's own process kind."""
        rows = self.psql("SELECT pid, CASE WHEN backend_type <> 'client backend' THEN backend_type"
                         " WHEN datname <> current_database() THEN 'other sessions'"
                         " WHEN query ILIKE 'LISTEN%' THEN 'LISTEN sessions' ELSE 'hub sessions' END FROM pg_stat_activity",
                         database)
        return {int(pid): kind for pid, kind in (line.split("|", 1) for line in rows.splitlines())}

    def create(self, database):
        self.psql(f"DROP DATABASE IF EXISTS {database}")
        self.psql(f"CREATE DATABASE {database}")

    def settled_rows_written(self, database, quiet=12, limit=60):
        """`rows_written` once it has stopped moving for `quiet` seconds: a backend that goes idle
        reports its counts up to 10 s later (PostgreSQL's PGSTAT_IDLE_INTERVAL), which would put
        the opens' own rows into the idle window that follows."""
        start = time.time()
        value, since = self.rows_written(database), time.time()
        while time.time() - since < quiet and time.time() - start < limit:
            time.sleep(1)
            now = self.rows_written(database)
            if now != value:
                value, since = now, time.time()
        return value

    def rows_written(self, database):
        value = self.psql("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables", database)
        return int(value or 0)

    def settle(self, database, limit=120):
        """Waits until the last phase's sockets are closed and their users offline, graces run out,
        and its closed rows rolled up: a phase must not measure the tail of the one before (18,000
        closes, then as many offline transitions a grace later, then a rollup pass that writes a
        row per user and day and per user and week)."""
        deadline = time.time() + limit
        while time.time() < deadline:
            busy = self.psql("SELECT (SELECT count(*) FROM rollcall.connections WHERE connected)"
                             " + (SELECT count(*) FROM rollcall.users WHERE online OR offline_pending_since IS NOT NULL)"
                             " + (SELECT count(*) FROM rollcall.connections WHERE NOT connected"
                             "    AND closed_in >= coalesce((SELECT rolled_before FROM rollcall.rollup_progress), '0'::xid8))",
                             database)
            if busy == "0":
                return
            time.sleep(0.5)
        raise SystemExit(f"the hubs did not settle within {limit} s")

    def stop(self):
        subprocess.run([Binaries.rollcall, "cluster", "stop", "--data-dir", self.directory, "--log-level", "warning"],
                       capture_output=True, text=True)
        shutil.rmtree(self.directory, ignore_errors=True)
