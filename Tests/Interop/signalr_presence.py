"""A SignalR client nobody here wrote (PyPI's signalrcore) against a RollCall hub.

Run by SignalRTests (Swift), which plays the native side on another hub and reads the lines
this script prints. Each step prints one line starting with "step "; a failure prints
"fail <why>" and exits 1.

    python signalr_presence.py URL TOKEN PEER STOP_FILE

It also joins room doc-1 (JoinRoom, SetRoomState) and hears PEER join it (RoomChanged).
"""

import json
import logging
import os
import sys
import threading
import time

from signalrcore.hub_connection_builder import HubConnectionBuilder

from interop import fail, say, wait_for_file

URL, TOKEN, PEER, STOP_FILE = sys.argv[1:5]
TIMEOUT = 30


class Client:
    """One SignalR connection and everything it heard."""

    def __init__(self):
        self.opened = threading.Event()
        self.lock = threading.Lock()
        self.statuses = []
        self.messages = []
        self.rooms = []
        self.errors = []
        self.connection = (
            HubConnectionBuilder()
            .with_url(URL, options={"access_token_factory": lambda: TOKEN})
            .configure_logging(logging.CRITICAL)
            .build()
        )
        self.connection.on_open(self.opened.set)
        self.connection.on_error(lambda message: self.record(self.errors, message.error))
        self.connection.on("UserStatusChanged", lambda args: self.record(self.statuses, args))
        self.connection.on("ReceiveMessage", lambda args: self.record(self.messages, args))
        self.connection.on("RoomChanged", lambda args: self.record(self.rooms, args))

    def record(self, into, value):
        with self.lock:
            into.append(value)

    def start(self):
        self.connection.start()
        if not self.opened.wait(TIMEOUT):
            fail("the connection did not open")

    def invoke(self, method, arguments):
        """Invokes and waits for the completion; returns its result (or fails on an error)."""
        done = threading.Event()
        answer = {}

        def completed(message):
            answer["result"] = getattr(message, "result", None)
            done.set()

        errors_before = len(self.errors)
        self.connection.send(method, arguments, on_invocation=completed)
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            if done.is_set():
                return answer["result"]
            with self.lock:
                if len(self.errors) > errors_before:
                    fail(f"{method} was refused: {self.errors[-1]}")
            time.sleep(0.02)
        fail(f"no completion for {method}")

    def expect_error(self, method, arguments, contains):
        """Invokes something the hub must refuse with a completion carrying an error."""
        errors_before = len(self.errors)
        self.connection.send(method, arguments)
        wait_for(lambda: len(self.errors) > errors_before, f"an error completion for {method}")
        with self.lock:
            error = self.errors[-1]
        if contains not in error:
            fail(f"{method}: error {error!r} does not say {contains!r}")
        return error


def wait_for(condition, what):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.02)
    fail(f"timed out waiting for {what}")


first = Client()
first.start()
say("step open")

snapshot = first.invoke("Subscribe", [[PEER]])
say("step subscribed " + json.dumps(snapshot, sort_keys=True))

first.expect_error("Teleport", [1], "unknown method")
first.expect_error("Subscribe", [42], "Subscribe takes one argument")
first.expect_error("SendToUser", ["only-one-argument"], "SendToUser takes two arguments")
say("step refusals answered")

wait_for(lambda: [PEER, True] in [s[:2] for s in first.statuses], f"{PEER} online")
say("step peer online " + json.dumps([s for s in first.statuses if s[0] == PEER][-1]))

first.invoke("SendToUser", [PEER, {"text": "from signalr"}])
say("step sent")

wait_for(lambda: any(m[0] == PEER for m in first.messages), f"a message from {PEER}")
say("step received " + json.dumps([m for m in first.messages if m[0] == PEER][-1], sort_keys=True))

# A client that drops and comes back at once (signalrcore's stop() closes its TCP socket without
# a close frame, as a lost network would): the old connection ends, a new one negotiates.
first.connection.stop()
second = Client()
second.start()
say("step reconnected")

# Rooms: join with a state, hear the peer join, change state.
room = second.invoke("JoinRoom", ["doc-1", {"status": "idle"}])
say("step joined " + json.dumps(room, sort_keys=True))
second.expect_error("JoinRoom", ["doc-2", "typing"], "a room state is a JSON object")
second.expect_error("SetRoomState", ["doc-9", {}], "not in room doc-9")
wait_for(lambda: any(r[1] == "joined" and r[3] == PEER for r in second.rooms), f"{PEER} joining doc-1")
say("step peer joined " + json.dumps([r for r in second.rooms if r[3] == PEER][-1], sort_keys=True))
second.invoke("SetRoomState", ["doc-1", {"status": "typing"}])
say("step state set")

wait_for_file(STOP_FILE)
say("step done")
os._exit(0)
