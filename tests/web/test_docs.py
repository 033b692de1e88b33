"""The README shows the leaderboard and the app as the browser tests see them."""

from __future__ import annotations

from tests.web.browser import DOCS_SHOTS, REPO

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_readme_shows_the_screenshots_that_the_browser_tests_take():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tests = "".join(p.read_text(encoding="utf-8") for p in (REPO / "tests" / "web").glob("test_*.py"))
    for name in DOCS_SHOTS:
        image = f"docs/screenshot-{name}.png"
        assert f"]({image})" in readme, image
        assert (REPO / image).read_bytes().startswith(PNG), image
        assert f'screenshot(d, "{name}"' in tests, name  # taken by a browser test; MEDPERF_GIT_UPDATE_DOCS=1 copies it
