"""Helpers of the browser tests: headless Chromium through Selenium, screenshots as artefacts, waiting,
and `medperf-git ui` run as a real process.

Screenshots go under ``$MEDPERF_GIT_ARTEFACTS/web`` (default: the system's temporary folder); the run prints
where. With ``MEDPERF_GIT_UPDATE_DOCS=1`` the README's two screenshots under docs/ are replaced by the new ones.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("MEDPERF_GIT_ARTEFACTS")
                 or Path(tempfile.gettempdir()) / "medperf-git-artefacts") / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1280,1000"]
DOCS_SHOTS = ("leaderboard", "app")


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing (as root: apt-get install chromium chromium-driver; see setup_engines.sh)"
    return None


needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))


def start_browser(profile: Path):
    """Debian's Chromium, headless, with a fresh profile folder; Selenium Manager never downloads anything."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def screenshot(driver, name: str, height: int | None = None) -> Path:
    """Save a PNG of the page (its top ``height`` pixels, else all of it) as a test artefact; copy it into
    docs/ when asked to."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTEFACTS / f"{name}.png"
    height = height or int(driver.execute_script("return Math.max(document.body.scrollHeight, 600)")) + 40
    driver.set_window_size(1280, min(height, 2400))
    driver.save_screenshot(str(target))
    driver.set_window_size(1280, 1000)
    if os.environ.get("MEDPERF_GIT_UPDATE_DOCS") == "1" and name in DOCS_SHOTS:
        shutil.copy(target, REPO / "docs" / f"screenshot-{name}.png")
    return target


def wait_for(condition, timeout: float = 120, what: str = "the condition"):
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = condition()
        except Exception:  # noqa: BLE001 - a page still loading: try again
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class RunningApp:
    """`medperf-git ui --no-browser` as a child process of the test: one person's app, as on their machine."""

    def __init__(self, home: Path, log: Path):
        env = {**os.environ, "MEDPERF_GIT_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.home = home
        self.stderr_path = log
        self._stderr = open(log, "w", encoding="utf-8")  # noqa: SIM115 - open for the app's whole life
        self.proc = subprocess.Popen([sys.executable, "-m", "medperf_git", "ui", "--no-browser"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        line = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line.startswith("http://") or not line and self.proc.poll() is not None:
                break
        found = re.match(r"(http://127\.0\.0\.1:(\d+))/\?token=(\S+)", line.strip())
        if not found:
            self.stop()
            raise AssertionError(f"`medperf-git ui` printed no address: {line!r} {log.read_text()[-2000:]}")
        self.url, self.port, self.token = found.group(1), int(found.group(2)), found.group(3)

    @property
    def entry(self) -> str:
        return f"{self.url}/?token={self.token}"

    def stop(self) -> None:
        """Ctrl-C, as a person would stop it (only this process, by its id)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()
