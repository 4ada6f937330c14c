"""What the interop scripts share: their line protocol with the Swift tests, and Chromium."""

import os
import shutil
import time


def say(line):
    """One line for the Swift test, which reads "step ..." and "fail ..." lines."""
    print(line, flush=True)


def fail(why):
    say(f"fail {why}")
    os._exit(1)


def wait_for_file(path, seconds=120):
    """The Swift test says "go on" by creating a file."""
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            fail(f"the test never wrote {path}")
        time.sleep(0.05)


def launch_chromium(playwright):
    """Debian's Chromium, headless: Playwright's own browser download cannot work here."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        fail("no Chromium on this machine: install Debian's chromium package (.ci/run does)")
    try:
        return playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--headless=new"])
    except Exception as error:  # the reason is the test's failure message
        fail(f"Chromium did not start: {error}")
