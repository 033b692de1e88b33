"""Fixtures of the web tests: one headless Chromium per module, and apps started as given people."""

from __future__ import annotations

import pytest

from tests.web.browser import ARTEFACTS, RunningApp, browser_missing, start_browser


def pytest_terminal_summary(terminalreporter) -> None:
    if ARTEFACTS.exists():
        terminalreporter.write_line(f"web test artefacts (screenshots): {ARTEFACTS}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if browser_missing():
        pytest.skip(browser_missing())
    driver = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def start_app(tmp_path):
    """Start `medperf-git ui` as given people (their MEDPERF_GIT_HOME); each is stopped after the test."""
    apps: list[RunningApp] = []

    def start(actor) -> RunningApp:
        app = RunningApp(actor.home, tmp_path / f"ui-{actor.handle}.stderr")
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()
