"""The admin dashboard at / in a real browser (Debian's Chromium through Playwright).

Run by BrowserTests (Swift), which connects and disconnects users on another hub and reads the
lines printed here ("step ...", or "fail <why>" and exit 1).

    python dashboard.py HTTP_BASE ADMIN_TOKEN USER SCREENSHOT GO_FILE
"""

import os
import sys
import time

from playwright.sync_api import sync_playwright

from interop import fail, launch_chromium, say, wait_for_file

BASE, TOKEN, USER, SCREENSHOT, GO_FILE = sys.argv[1:6]


with sync_playwright() as playwright:
    browser = launch_chromium(playwright)
    page = browser.new_page(viewport={"width": 1200, "height": 820})
    page.on("pageerror", lambda error: say(f"page error {error}"))
    page.goto(f"{BASE}/?access_token={TOKEN}")
    try:
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('live')", timeout=30_000)
        page.wait_for_selector("#hubs tr", timeout=30_000)
    except Exception:
        fail("the dashboard did not go live: " + page.inner_text("body")[:500])
    say("step live")

    # The test connects USER on another hub now; time how long the page takes to show it.
    wait_for_file(GO_FILE + ".open")
    begun = time.monotonic()
    try:
        page.wait_for_selector(f'#users tr[data-user="{USER}"]', timeout=15_000)
    except Exception:
        fail(f"{USER} never appeared: " + page.inner_text("#users")[:500])
    say(f"step shown after {round((time.monotonic() - begun) * 1000)} ms")
    page.wait_for_timeout(300)
    page.screenshot(path=SCREENSHOT, full_page=True)
    feed = page.inner_text("#feed")
    if f"opened {USER}" not in " ".join(feed.split()):
        fail(f"the live feed does not show {USER} opening: {feed[:300]}")
    say("step feed")

    # One of USER's tabs joins a room: the rooms panel lists it with its member and state.
    wait_for_file(GO_FILE + ".room")
    try:
        page.wait_for_selector('#rooms tr[data-room="doc-7"]', timeout=15_000)
    except Exception:
        fail("the room never appeared: " + page.inner_text("#rooms")[:500])
    row = " ".join(page.inner_text('#rooms tr[data-room="doc-7"]').split())
    say(f"step room {row}")

    wait_for_file(GO_FILE + ".close")
    try:
        page.wait_for_selector(f'#users tr[data-user="{USER}"]', state="detached", timeout=30_000)
    except Exception:
        fail(f"{USER} is still listed after leaving")
    try:
        page.wait_for_selector('#rooms tr[data-room="doc-7"]', state="detached", timeout=15_000)
    except Exception:
        fail("the room is still listed after its member left")
    say("step removed")

    # The hubs send webhooks: USER's offline appears in the webhooks panel, delivered.
    try:
        page.wait_for_selector(f'#webhooks tr[data-webhook="user.offline {USER}"][data-status="delivered"]', timeout=30_000)
    except Exception:
        fail(f"{USER}'s offline webhook never showed as delivered: " + page.inner_text("#webhooks")[:500])
    try:
        page.wait_for_function("() => document.getElementById('webhook-summary').textContent.startsWith('0 pending')", timeout=30_000)
    except Exception:
        fail("webhooks are still pending: " + page.inner_text("#webhook-summary"))
    say("step webhooks " + " ".join(page.inner_text("#webhook-summary").split()))
    browser.close()
os._exit(0)
