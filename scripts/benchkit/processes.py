"""The processes a bench run starts: release builds of the hubs and the bare server, and `rollcall load`."""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "bench-secret-that-is-long-enough-for-hs256-keys"
started = []


def log(message):
    print(message, file=sys.stderr, flush=True)


class Server:
    def __init__(self, command, name, ready):
        self.log_path = os.path.join(tempfile.gettempdir(), f"rollcall-bench-{name}-{os.getpid()}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        started.append(self)
        self.pid = self.process.pid
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{name} exited: {open(self.log_path).read()[-2000:]}")
            if ready():
                return
            time.sleep(0.1)
        raise SystemExit(f"{name} did not start: {open(self.log_path).read()[-2000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def bare_log():
    return os.path.join(tempfile.gettempdir(), f"rollcall-bench-bare-{os.getpid()}.log")


def http_status(port, path):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None


def transactions(port):
    """Registry transactions a hub has committed, from its /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("rollcall_registry_transactions_total"))


def release_binary(name):
    path = os.path.join(ROOT, ".build", "release", name)
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: swift build -c release --product rollcall && swift build -c release --product rollcall-bare")
    return path


class Binaries:
    """The release builds a run uses: `rollcall` (hubs, load, the cluster) and `rollcall-bare`."""
    rollcall = None
    bare = None

    @classmethod
    def find(cls):
        cls.rollcall = release_binary("rollcall")
        cls.bare = release_binary("rollcall-bare")


def start_bare(*arguments):
    return Server([Binaries.bare, "18090", *arguments], "bare", lambda: "listening on" in open(bare_log()).read())


def start_hub(cluster, database, port, server_id, extra, binary=None):
    command = [binary or Binaries.rollcall, "serve", "--port", str(port), "--server-id", server_id, "--database-url", cluster.url(database),
               "--jwt-secret", SECRET, "--log-level", "notice", "--address-open-rate", "0", "--user-open-rate", "0"] + extra
    return Server(command, server_id, lambda: http_status(port, "/readyz") == 200)


def load(arguments):
    """One `rollcall load` run; its summary (see LoadSummary in Sources/RollCallClient)."""
    command = [Binaries.rollcall, "load", "--jwt-secret", SECRET, "--quiet", "--limit", "300s"] + arguments
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"rollcall load failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def start_load(arguments):
    """`rollcall load` in the background, for runs that hold sockets while something is measured."""
    return subprocess.Popen([Binaries.rollcall, "load", "--jwt-secret", SECRET, "--quiet"] + arguments,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_all():
    for server in started:
        server.stop()


def open_on_hub(port):
    """The hub's `rollcall_connections_open` gauge: sockets welcomed and not yet closed."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/metrics")
        for line in connection.getresponse().read().decode().splitlines():
            if line.startswith("rollcall_connections_open "):
                return int(float(line.split()[1]))
    except OSError:
        pass
    return 0
