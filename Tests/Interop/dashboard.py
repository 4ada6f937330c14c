"""The admin dashboard at / in a real browser (Debian's Chromium through Playwright).

Run by BrowserTests (Swift), which connects and disconnects users on another hub and reads the
lines printed here ("step ...", or "fail <why>" and exit 1).

    python dashboard.py HTTP_BASE ADMIN_TOKEN USER SCREENSHOT GO_FILE
"""

import os
import shutil
import sys
import time

from playwright.sync_api import sync_playwright

BASE, TOKEN, USER, SCREENSHOT, GO_FILE = sys.argv[1:6]


def say(line):
    print(line, flush=True)


def fail(why):
    say(f"fail {why}")
    os._exit(1)


def wait_for_file(path, seconds=120):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            fail(f"the test never wrote {path}")
        time.sleep(0.05)


browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
if browser_path is None:
    fail("no Chromium on this machine: install Debian's chromium package (.ci/run does)")

with sync_playwright() as playwright:
    try:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--headless=new"])
    except Exception as error:
        fail(f"Chromium did not start: {error}")
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

    wait_for_file(GO_FILE + ".close")
    try:
        page.wait_for_selector(f'#users tr[data-user="{USER}"]', state="detached", timeout=30_000)
    except Exception:
        fail(f"{USER} is still listed after leaving")
    say("step removed")
    browser.close()
os._exit(0)
