"""clients/js/rollcall.js in a real browser: Debian's Chromium, driven by Playwright.

Run by BrowserTests (Swift), which plays the native side and reads the lines printed here. Each
step prints one line starting with "step "; a failure prints "fail <why>" and exits 1.

    python browser_client.py HTTP_BASE WS_URL TOKENS_JSON PEER STOP_FILE
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

from interop import fail, launch_chromium, say, wait_for_file

BASE, WS_URL, TOKENS, PEER, STOP_FILE = sys.argv[1:6]
TIMEOUT_MS = 30_000


with sync_playwright() as playwright:
    browser = launch_chromium(playwright)
    page = browser.new_page()
    page.on("pageerror", lambda error: say(f"page error {error}"))
    page.goto(f"{BASE}/healthz")  # any page of the hub's origin: the module is imported from it

    page.evaluate(
        """async ([url, tokens]) => {
            const { connect } = await import("/clients/rollcall.js");
            window.events = [];
            window.tokensHanded = 0;
            window.hub = connect({
                url,
                getToken: async () => tokens[Math.min(window.tokensHanded++, tokens.length - 1)],
                backoff: { initial: 50, maximum: 500 },
            });
            for (const type of ["welcome", "presence", "message", "close"]) {
                window.hub.addEventListener(type, (event) => window.events.push({ type, ...event.detail }));
            }
        }""",
        [WS_URL, json.loads(TOKENS)],
    )

    def wait(condition, what):
        try:
            page.wait_for_function(condition, timeout=TIMEOUT_MS)
        except Exception:
            fail(f"timed out waiting for {what}: {page.evaluate('JSON.stringify(window.events)')}")

    wait("() => window.events.some(e => e.type === 'welcome')", "the welcome")
    say("step welcome")

    snapshot = page.evaluate(f"() => window.hub.subscribe([{json.dumps(PEER)}])")
    say("step subscribed " + json.dumps(snapshot, sort_keys=True))

    wait(f"() => window.hub.presence.get({json.dumps(PEER)})?.online === true", f"{PEER} online")
    say("step peer online")

    page.evaluate(f"() => window.hub.send({json.dumps(PEER)}, {{ text: 'from the browser' }})")
    say("step sent")

    wait(f"() => window.events.some(e => e.type === 'message' && e.from === {json.dumps(PEER)})", f"a message from {PEER}")
    message = page.evaluate(f"() => window.events.find(e => e.type === 'message' && e.from === {json.dumps(PEER)}).data")
    say("step received " + json.dumps(message, sort_keys=True))

    # A room: joined with a state, the peer heard joining, a state change.
    members = page.evaluate(
        """async () => {
            window.room = await window.hub.join("doc-1", { status: "reading" });
            window.roomSyncs = 1;
            window.room.addEventListener("sync", () => window.roomSyncs++);
            return [...window.room.users.keys()];
        }"""
    )
    say("step joined " + json.dumps(members))
    wait(f"() => window.room.users.has({json.dumps(PEER)})", f"{PEER} in doc-1")
    say("step peer joined " + json.dumps(page.evaluate(f"() => window.room.users.get({json.dumps(PEER)})[0].state"), sort_keys=True))
    page.evaluate("() => window.room.setState({ status: 'typing' })")
    say("step state set")

    # The socket dies under the page: the client reconnects with resume and a fresh token.
    page.evaluate("() => window.hub.socket.close(4000, 'dropped by the test')")
    wait("() => window.events.filter(e => e.type === 'welcome').length >= 2", "the second welcome")
    second = page.evaluate("() => window.events.filter(e => e.type === 'welcome')[1]")
    handed = page.evaluate("() => window.tokensHanded")
    say(f"step resumed {json.dumps(second.get('resumed', False))} tokens {handed}")
    # ...and joins doc-1 again, with its last state, as its new connection.
    wait("() => window.roomSyncs >= 2", "doc-1 joined again")
    again = page.evaluate("() => [...window.room.members.values()].filter(m => m.state.status === 'typing').length")
    say(f"step rejoined {again}")

    wait_for_file(STOP_FILE)
    # The peer left meanwhile: the map the page renders from says so.
    wait(f"() => window.hub.presence.get({json.dumps(PEER)})?.online === false", f"{PEER} offline")
    say("step done")
    browser.close()
os._exit(0)
