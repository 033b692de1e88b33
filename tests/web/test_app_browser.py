"""The local app in headless Chromium: a data owner goes from `dataset create` to `result submit` by clicking,
and a committee member approves the association request from the review queue in between.

Each person runs their own `medperf-git ui` (a real process, as on their own machine); screenshots of every
step are saved as test artefacts.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.web.browser import needs_browser, screenshot, wait_for
from tests.web.tutorial_state import seeded

pytestmark = [pytest.mark.slow, needs_browser]


def _by():
    from selenium.webdriver.common.by import By

    return By


def settle(driver, shot: str | None = None, timeout: float = 240) -> str:
    """Wait until the task shown has stopped running; its state, after a screenshot."""
    By = _by()
    state = wait_for(lambda: (s := driver.find_element(By.ID, "job-state").text) not in ("queued", "running") and s,
                     timeout, "the task to stop running")
    if shot:
        screenshot(driver, shot)
    if state == "failed":
        raise AssertionError(driver.find_element(By.CSS_SELECTOR, "main").text)
    return state


def assert_labelled(driver) -> None:
    """Every form field a person fills in has a label that names it (for screen readers and clicks)."""
    By = _by()
    fields = driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select, textarea")
    assert fields
    for field in fields:
        labels = driver.execute_script("return arguments[0].labels.length", field)
        assert labels >= 1, field.get_attribute("outerHTML")


def publish(driver, shot: str, expected: str = "done") -> dict:
    """Check the preview of what is published, publish it, and wait for the task to end."""
    By = _by()
    assert settle(driver) == "waiting"
    record = json.loads(driver.find_element(By.ID, "preview").text)
    assert "readable by everyone who can read the registry" in driver.find_element(By.CSS_SELECTOR, "main").text
    screenshot(driver, shot)
    driver.find_element(By.ID, "publish").click()
    wait_for(lambda: driver.find_element(By.ID, "job-state").text != "waiting", 30, "the answer to be taken")
    assert settle(driver) == expected
    return record


def test_a_data_owner_goes_from_dataset_create_to_result_submit_by_clicking(tmp_path, browser, start_app):
    By = _by()
    t = seeded(tmp_path)
    d = browser
    owner = start_app(t.actors["testdo"])

    # The token in the printed address lets the browser in; the address bar then drops it.
    d.get(owner.entry)
    assert d.current_url == f"{owner.url}/"
    assert owner.token not in d.current_url
    screenshot(d, "app-01-start")

    # benchmark ls, then dataset create
    d.find_element(By.LINK_TEXT, "Benchmarks").click()
    d.find_element(By.LINK_TEXT, "chestxray").click()
    d.find_element(By.LINK_TEXT, "Prepare a dataset for this benchmark").click()
    assert d.find_element(By.ID, "benchmark").get_attribute("value") == "1"
    for field, value in (("name", "mytestdata"), ("description", "A tutorial dataset"), ("location", "My machine"),
                         ("data_path", str(t.raw / "images")), ("labels_path", str(t.raw / "labels"))):
        d.find_element(By.ID, field).send_keys(value)
    assert_labelled(d)
    screenshot(d, "app-02-dataset-form")
    d.find_element(By.ID, "prepare").click()
    assert settle(d, "app-03-dataset-prepared") == "done"
    steps = d.find_element(By.ID, "steps").text
    assert "prepare" in steps and "statistics" in steps
    assert "Local UID" in d.find_element(By.ID, "outcome").text

    # dataset submit: the preview, then the merge
    d.find_element(By.ID, "next").click()
    d.find_element(By.ID, "submit-dataset").click()
    record = publish(d, "app-04-dataset-preview")
    assert record["kind"] == "dataset" and record["name"] == "mytestdata" and "statistics" in record
    assert "Submission 1 merged" in d.find_element(By.ID, "outcome").text

    # dataset associate: the compatibility test runs, then the request waits for the committee
    d.find_element(By.ID, "next").click()
    assert "Registry id" in d.find_element(By.CSS_SELECTOR, "main").text
    assert_labelled(d)
    d.find_element(By.ID, "associate").click()
    request = publish(d, "app-05-association-preview")
    assert request["kind"] == "association" and request["dataset"] == 1
    assert "waits for approval by testbo" in d.find_element(By.ID, "outcome").text
    d.find_element(By.ID, "next").click()
    assert "pending" in d.find_element(By.ID, "associations").text

    # The committee member, in their own app: the review queue, the diff, a signed approval
    committee = start_app(t.actors["testbo"])
    d.get(committee.entry)
    d.find_element(By.LINK_TEXT, "Review").click()
    d.find_element(By.PARTIAL_LINK_TEXT, "joins benchmark 1").click()
    diff = d.find_element(By.CSS_SELECTOR, "pre.diff").text
    assert "+++ submission:associations/1/dataset-1.yaml" in diff and "+dataset: 1" in diff
    assert_labelled(d)
    screenshot(d, "app-06-review")
    d.find_element(By.ID, "approve").click()
    assert settle(d, "app-07-approved") == "done"
    assert "it is merged" in d.find_element(By.ID, "outcome").text
    merged = subprocess.run(["git", "log", "-1", "--first-parent", "--format=%s", "main"], cwd=t.registry,
                            capture_output=True, text=True, check=True).stdout
    assert merged.startswith("Merge submission #2"), merged
    approval = subprocess.run(["git", "cat-file", "commit", "refs/pull/2/head"], cwd=t.registry, capture_output=True,
                              text=True, check=True).stdout  # signed with testbo's key; every client's audit checks it
    assert "\ngpgsig -----BEGIN SSH SIGNATURE-----" in approval and approval.endswith("\nApproved-by: testbo\n")

    # Back to the data owner: benchmark run, with each model's progress and the summary table
    d.get(owner.url + "/datasets")
    d.find_element(By.LINK_TEXT, "mytestdata").click()
    d.find_element(By.ID, "run").click()
    assert settle(d) == "done"
    screenshot(d, "app", height=900)
    summary = d.find_element(By.ID, "summary").text
    assert "b1m2d1" in summary and "b1m4d1" in summary
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#summary tbody tr")]
    assert rows[0].startswith("2 b1m2d1 False True") and rows[1].startswith("4 b1m4d1 False False"), rows
    assert "Running model 4" in d.find_element(By.ID, "steps").text

    # result view, then result submit
    d.find_element(By.LINK_TEXT, "b1m4d1").click()
    metrics = d.find_element(By.ID, "metrics").text
    assert "Accuracy" in metrics and "AUC" in metrics
    d.find_element(By.ID, "submit-result").click()
    result = publish(d, "app-08-result-preview")
    assert result["kind"] == "result" and result["name"] == "b1m4d1" and set(result["metrics"]) == {"Accuracy", "AUC"}
    assert "results/1/b1m4d1.yaml is on the registry" in d.find_element(By.ID, "outcome").text
    screenshot(d, "app-09-result-submitted")
    published = subprocess.run(["git", "show", "main:results/1/b1m4d1.yaml"], cwd=t.registry, capture_output=True,
                               text=True, check=True).stdout
    assert "owner: testdo" in published

    # Every task is listed, and the token reached no log
    d.find_element(By.LINK_TEXT, "Tasks").click()
    assert len(d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")) == 5
    for app in (owner, committee):
        app.stop()
        for log in (app.stderr_path, app.home / "ui" / "access.log"):
            assert app.token not in log.read_text(), log
        assert "GET /jobs" in (app.home / "ui" / "access.log").read_text()
