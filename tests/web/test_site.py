"""`site build` on the tutorial registry once the tutorial is done (b1m2d1 and b1m4d1 published): the leaderboard
in headless Chromium, its links to records and commits, the JSON mirrors and incremental rebuilds."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from medperf_git.web.site import MANIFEST, build_site, session_for
from tests.support.tutorial_registry import commit_records
from tests.web.browser import needs_browser, screenshot, wait_for
from tests.web.tutorial_state import finished

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The tutorial's end state, made once for the module, in an isolated environment like every test's."""
    root = tmp_path_factory.mktemp("tutorial")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("GIT_", "MEDPERF_GIT_")):
                mp.delenv(key)
        mp.setenv("HOME", str(root / "home"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("MEDPERF_GIT_NO_PROGRESS", "1")
        yield finished(root)


@pytest.fixture
def site(tutorial, tmp_path):
    """The site as the data owner's profile builds it."""
    out = tmp_path / "site"
    with tutorial.actors["testdo"].active():
        s = session_for(None)
        try:
            report = build_site(s, out)
        finally:
            s.close()
    return out, report


def git(registry, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=registry, capture_output=True, text=True, check=True).stdout.strip()


def published_metrics(registry, name: str) -> dict:
    return yaml.safe_load(git(registry, "show", f"main:results/1/{name}.yaml"))["metrics"]


def shown(value: float) -> str:
    return f"{value:.4g}"


@needs_browser
def test_the_leaderboard_shows_both_results_with_their_metrics_and_sorts_without_a_server(site, tutorial, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    out, _ = site
    d = browser
    d.get((out / "benchmarks" / "1.html").as_uri())
    table = d.find_element(By.ID, "leaderboard")
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    assert headers[:4] == ["Model", "Dataset", "Accuracy", "AUC"], headers
    rows = {r.find_elements(By.TAG_NAME, "td")[-2].text: r for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert set(rows) == {"b1m2d1", "b1m4d1"}
    for name, row in rows.items():
        metrics = published_metrics(tutorial.registry, name)
        cells = row.find_elements(By.CSS_SELECTOR, "td.num")
        assert [c.text for c in cells] == [shown(metrics["Accuracy"]), shown(metrics["AUC"])]
        assert all(c.find_element(By.TAG_NAME, "a").get_attribute("href").endswith(f"/results/1/{name}.html")
                   for c in cells)
    screenshot(d, "leaderboard", height=1000)

    def order() -> list[str]:
        return [r.find_elements(By.TAG_NAME, "td")[-2].text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

    accuracy = {n: published_metrics(tutorial.registry, n)["Accuracy"] for n in rows}
    button = table.find_element(By.XPATH, ".//thead/tr/th[3]/button")
    button.click()
    assert order() == sorted(accuracy, key=accuracy.get)
    assert table.find_element(By.XPATH, ".//thead/tr/th[3]").get_attribute("aria-sort") == "ascending"
    # The keyboard reaches the same buttons: focus, then Enter sorts the other way.
    button.send_keys(Keys.ENTER)
    assert order() == sorted(accuracy, key=accuracy.get, reverse=True)
    assert "Sorted by Accuracy, descending." in d.find_element(By.CSS_SELECTOR, "[aria-live]").text
    assert d.switch_to.active_element.text == "Accuracy"
    ActionChains(d).send_keys(Keys.TAB).perform()
    assert d.switch_to.active_element.text == "AUC"
    d.refresh()
    ActionChains(d).send_keys(Keys.TAB).perform()
    assert d.switch_to.active_element.text == "Skip to content"  # the first stop on every page

    # The charts: one per metric, drawn in the page (an SVG with a title), readable dark and printed.
    charts = d.find_elements(By.CSS_SELECTOR, "figure svg.chart")
    assert len(charts) == 2 and charts[0].get_attribute("role") == "img"
    assert "Accuracy by model and dataset" in charts[0].find_element(By.TAG_NAME, "title").get_attribute("textContent")
    for mode, features in (("dark", [{"name": "prefers-color-scheme", "value": "dark"}]), ("print", [])):
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print" if mode == "print" else "",
                                                         "features": features})
        background = d.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(18, 18, 18)" if mode == "dark" else "rgb(255, 255, 255)")
        screenshot(d, f"leaderboard-{mode}")
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "", "features": []})


@needs_browser
def test_pages_have_labelled_semantic_tables_and_work_from_a_file_share(site, browser):
    from selenium.webdriver.common.by import By

    out, _ = site
    for page in ("index.html", "benchmarks/1.html", "datasets/1.html", "containers/4.html", "people/testdo.html",
                 "results/1/b1m4d1.html"):
        browser.get((out / page).as_uri())
        wait_for(lambda: browser.find_elements(By.TAG_NAME, "main"), 10, page)
        for table in browser.find_elements(By.TAG_NAME, "table"):
            assert table.find_element(By.TAG_NAME, "caption").text, page
            assert all(th.get_attribute("scope") in ("col", "row")
                       for th in table.find_elements(By.TAG_NAME, "th")), page
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[href]")]
        assert all(link.startswith("file://") for link in links), [x for x in links if not x.startswith("file:")]


def test_every_number_links_to_its_record_and_the_commit_that_published_it(site, tutorial):
    out, _ = site
    page = json.loads((out / "api" / "benchmarks" / "1.json").read_text())
    assert page["metrics"] == ["Accuracy", "AUC"]
    html = (out / "benchmarks" / "1.html").read_text()
    for row in page["leaderboard"]:
        name = row["result"]
        metrics = published_metrics(tutorial.registry, name)
        assert row["values"] == [metrics["Accuracy"], metrics["AUC"]]
        sha = git(tutorial.registry, "log", "-1", "--first-parent", "--format=%H", "main", "--",
                  f"results/1/{name}.yaml")
        assert row["published"]["sha"] == sha
        for value in row["values"]:
            assert re.search(rf'<a href="../results/1/{name}.html"[^>]*>{re.escape(shown(value))}</a>', html)
        assert f'href="../commits/{sha}.html"' in html
        commit_page = (out / "commits" / f"{sha}.html").read_text()
        assert f"results/1/{name}.yaml" in commit_page
        record_page = (out / "results" / "1" / f"{name}.html").read_text()
        assert sha[:12] in record_page and f"name: {name}" in record_page  # the record file, as published


def test_api_json_mirrors_each_page(site):
    out, report = site
    pages = {p.relative_to(out).with_suffix("").as_posix() for p in out.rglob("*.html")}
    mirrors = {p.relative_to(out / "api").with_suffix("").as_posix() for p in (out / "api").rglob("*.json")}
    assert pages == mirrors and len(pages) == report.pages
    index = json.loads((out / "api" / "index.json").read_text())
    assert [b["name"] for b in index["benchmarks"]] == ["chestxray"]
    assert index["benchmarks"][0]["results"] == 2 and index["benchmarks"][0]["datasets"] == 1
    person = json.loads((out / "api" / "people" / "testdo.json").read_text())
    assert [r["result"] for r in person["results"]] == ["b1m2d1", "b1m4d1"]
    assert "email" not in json.dumps(person)  # the site may be read more widely than the registry
    benchmark = json.loads((out / "api" / "benchmarks" / "1.json").read_text())
    roles = {c["role"]: c for c in benchmark["containers"]}
    assert set(roles) == {"data preparation", "reference model", "metrics", "model (approved)"}
    assert roles["metrics"]["pins"]["source"]["hash"].startswith("sha256:")
    assert roles["metrics"]["pins"]["config_hash"].startswith("sha256:")
    states = {(a["component"], a["id"]): a["status"] for a in benchmark["associations"]}
    assert states == {("dataset", 1): "approved", ("model", 4): "approved"}


def test_rebuilds_write_only_the_pages_whose_inputs_changed(site, tutorial):
    out, first = site
    assert first.written == first.pages and (out / MANIFEST).exists()

    def build():
        with tutorial.actors["testdo"].active():
            s = session_for(None)
            try:
                return build_site(s, out)
            finally:
                s.close()

    again = build()
    assert again.written == 0 and again.unchanged == first.pages and again.removed == 0
    before = git(tutorial.registry, "log", "-1", "--first-parent", "--format=%H", "main", "--", "people/testmo.yaml")
    record = yaml.safe_load(git(tutorial.registry, "show", "main:people/testmo.yaml"))
    new = commit_records(tutorial.registry, tutorial.actors["testadmin"],
                         {"people/testmo.yaml": {**record, "name": "Test Model Owner"}}, "A new name")
    changed = build()
    # The person's page and the list of people show the name; the commits' pages list what each published;
    # the index names the commit the site was built from.
    assert sorted(changed.changed) == sorted(["people/testmo", "people", f"commits/{new}", f"commits/{before}",
                                              "index"])
    assert "Test Model Owner" in (out / "people" / "testmo.html").read_text()


def test_a_build_in_two_processes_equals_one_in_a_single_process(tutorial, tmp_path, monkeypatch):
    """Large sites are made, hashed and rendered in two forked processes: the folder must not tell."""
    from medperf_git.web import site as site_module

    def build(out, parallel: bool):
        monkeypatch.setattr(site_module, "PARALLEL_MIN", 1 if parallel else 10**9)
        monkeypatch.setattr(site_module, "PROCESSES", 2)
        s = session_for(str(tutorial.registry))
        try:
            return build_site(s, out)
        finally:
            s.close()

    def files(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    one, two = build(tmp_path / "one", False), build(tmp_path / "two", True)
    assert two.written == one.written == one.pages > 1 and two.changed == one.changed
    assert files(tmp_path / "two") == files(tmp_path / "one")
    again = build(tmp_path / "two", True)
    assert again.written == 0 and again.unchanged == one.pages
    assert files(tmp_path / "two") == files(tmp_path / "one")


def test_site_build_from_a_registry_path_needs_no_profile_and_keeps_other_folders(tutorial, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDPERF_GIT_")}
    env.update(MEDPERF_GIT_HOME=str(tmp_path / "nobody"), MEDPERF_GIT_NO_PROGRESS="1")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "medperf_git", "site", "build", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    built = run(str(tmp_path / "out"), "--registry", str(tutorial.registry), "--forge-url",
                "https://github.com/org/registry")
    assert built.returncode == 0, built.stderr
    assert re.search(r"Site of commit [0-9a-f]{12} in .*: \d+ pages", built.stderr)
    page = json.loads((tmp_path / "out" / "api" / "benchmarks" / "1.json").read_text())
    assert page["leaderboard"][0]["external"]["commit"].startswith("https://github.com/org/registry/commit/")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    refused = run(str(other), "--registry", str(tutorial.registry))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"Error: {other} is not empty and holds no site built by medperf-git" in refused.stderr
    assert (other / "notes.txt").read_text() == "mine"
