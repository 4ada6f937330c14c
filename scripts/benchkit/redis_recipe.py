"""The classic advice's recipe for presence, in Redis: the anchor RollCall's PostgreSQL cost is read against.

Per connect, one Lua call: SADD the connection to the user's set, EXPIRE the set (the TTL that
cleans up after a crashed server), SET the user's last-seen time, and PUBLISH "online" when this
is the user's first connection. Per close, one Lua call: SREM, SET last-seen, PUBLISH "offline"
when it was the last. Calls go pipelined 20 at a time, one subscriber hears every PUBLISH (as
each hub hears every NOTIFY). What is measured is the CPU of the redis-server process, as the
bench measures PostgreSQL's: the client is a few lines of Python and its cost is not counted.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from .procfs import cpu_seconds

CONNECT = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
if added == 1 and redis.call('SCARD', KEYS[1]) == 1 then
  redis.call('PUBLISH', 'presence', 'online ' .. ARGV[4])
end
return added
"""

CLOSE = """
local removed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if removed == 1 and redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('PUBLISH', 'presence', 'offline ' .. ARGV[3])
end
return removed
"""

PIPELINE = 20
TTL_SECONDS = 90
# Connects (then closes) per measure: more than the bench's 3,000 sockets, since at about 20 µs
# each the CPU clock's 10 ms ticks would otherwise be a sixth of the figure.
CONNECTS = 20_000


def available():
    return shutil.which("redis-server") is not None


class Connection:
    """Just enough of RESP for this recipe: commands out, replies in."""

    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.connect(path)
        self.reader = self.socket.makefile("rb")

    def send(self, *commands):
        out = bytearray()
        for command in commands:
            out += b"*%d\r\n" % len(command)
            for part in command:
                data = part if isinstance(part, bytes) else str(part).encode()
                out += b"$%d\r\n%s\r\n" % (len(data), data)
        self.socket.sendall(out)

    def reply(self):
        line = self.reader.readline()
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b":"):
            return int(rest) if kind == b":" else rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis: {rest.decode()}")
        if kind == b"$":
            length = int(rest)
            return None if length < 0 else self.reader.read(length + 2)[:-2]
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(f"redis: unexpected reply {line!r}")

    def call(self, *command):
        self.send(command)
        return self.reply()

    def close(self):
        self.socket.close()


def churn(connections, prefix="churn"):
    """`connections` connects (one user each, as the bench's churn), then as many closes, on a
    redis-server of its own; its CPU per connect+close in ms, and the events a subscriber heard."""
    directory = tempfile.mkdtemp(prefix="rollcall-bench-redis-")
    path = os.path.join(directory, "redis.sock")
    server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", path, "--save", "", "--appendonly", "no",
                               "--dir", directory, "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while not os.path.exists(path):
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        client = Connection(path)
        connect, close = client.call("SCRIPT", "LOAD", CONNECT), client.call("SCRIPT", "LOAD", CLOSE)
        heard = []
        subscriber = Connection(path)
        subscriber.call("SUBSCRIBE", "presence")

        def listen():
            while len(heard) < 2 * connections:
                heard.append(subscriber.reply())

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        before = cpu_seconds(server.pid)
        for script, first in ((connect, True), (close, False)):
            for start in range(0, connections, PIPELINE):
                batch = []
                for index in range(start, min(start + PIPELINE, connections)):
                    user = f"{prefix}-{index}"
                    keys = [f"presence:{user}", f"last-seen:{user}"]
                    now = str(int(time.time() * 1000))
                    extra = [TTL_SECONDS, user] if first else [user]
                    batch.append(("EVALSHA", script, 2, *keys, f"connection-{index}", now, *extra))
                client.send(*batch)
                for _ in batch:
                    client.reply()
        listener.join(timeout=30)
        spent = cpu_seconds(server.pid) - before
        client.close()
        subscriber.close()
        return {"redis_cpu_ms": spent * 1000 / connections, "redis_events": len(heard)}
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
