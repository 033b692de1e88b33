"""What the site's pages show, from records alone: encrypted results, nested metrics, hostile names, charts."""

from __future__ import annotations

import json

from medperf_git.web._render import environment
from medperf_git.web._site_pages import Commit, Row, SiteModel, flatten
from medperf_git.web.charts import charts, latest

MAIN = "f" * 40


def row(path: str, kind: str, key: str, data: dict, *, id=None, benchmark=None, component=None) -> Row:
    return Row(path, kind, key, id, benchmark, component, "b" * 40, data)


def registry(visibility: str | None, results: list[dict], model_name: str = "model four") -> SiteModel:
    bench = {"kind": "benchmark", "id": 1, "name": "chestxray", "description": "d", "owners": ["bo"],
             "data_preparation": 1, "reference_model": 2, "metrics": 3}
    if visibility:
        bench["result_visibility"] = visibility
    rows = [row("benchmarks/1.yaml", "benchmark", "1", bench, id=1),
            row("containers/4.yaml", "container", "4", {"kind": "container", "id": 4, "name": model_name,
                                                        "owner": "mo", "config": {"tasks": {"infer": {}}}}, id=4),
            row("datasets/1.yaml", "dataset", "1", {"kind": "dataset", "id": 1, "name": "d1", "owner": "do",
                                                    "benchmark": 1, "data_preparation": 1}, id=1),
            row("people/do.yaml", "person", "do", {"kind": "person", "handle": "do", "name": "Do",
                                                   "email": "do@example.org"})]
    for r in results:
        rows.append(row(f"results/1/{r['name']}.yaml", "result", f"1/{r['name']}",
                        {"kind": "result", "benchmark": 1, "model": 4, "dataset": 1, "owner": "do", **r},
                        benchmark=1))
    published = {r.path: MAIN for r in rows}
    return SiteModel(rows, MAIN, published, {MAIN: Commit(MAIN, 0, "Admin", "Records")})


def pages(model: SiteModel) -> dict[str, dict]:
    return {p.key: p.context for p in model.pages()}


def test_results_of_a_committee_benchmark_show_as_encrypted_and_publish_no_number():
    model = registry("committee", [{"name": "b1m4d1", "metrics": {"AUC": 0.75}}])
    shown = pages(model)
    board = shown["benchmarks/1"]["leaderboard"]
    assert shown["benchmarks/1"]["visibility"] == "committee" and shown["benchmarks/1"]["metrics"] == []
    assert board[0]["encrypted"] and board[0]["values"] == []
    result = shown["results/1/b1m4d1"]
    assert result["encrypted"] and "metrics" not in result["result"] and result["values"] == []
    assert "0.75" not in json.dumps(shown) and charts(shown["benchmarks/1"]) == []
    page = next(p for p in model.pages() if p.key == "results/1/b1m4d1")
    assert page.blob is None  # the record file, metrics and all, is not shown either
    html = environment().get_template("site/benchmark.html").render(
        **shown["benchmarks/1"], charts=[], key="benchmarks/1", root="../", registry_name="r")
    assert "encrypted" in html and "0.75" not in html


def test_a_result_without_clear_metrics_shows_as_encrypted_where_visibility_is_not_said():
    shown = pages(registry(None, [{"name": "b1m4d1", "encrypted_metrics": "ZW5j"},
                                  {"name": "b1m4d1-2", "metrics": {"AUC": 0.5}}]))
    assert shown["benchmarks/1"]["visibility"] == "public"
    rows = {r["result"]: r for r in shown["benchmarks/1"]["leaderboard"]}
    assert rows["b1m4d1"]["encrypted"] and not rows["b1m4d1-2"]["encrypted"]
    assert rows["b1m4d1-2"]["values"] == [0.5]


def test_nested_metrics_become_columns_and_charts_take_the_newest_run():
    assert flatten({"AUC": 0.5, "per_class": {"0": 1, "1": [0.25, 0.5]}, "ok": True, "name": "x"}) == {
        "AUC": 0.5, "per_class.0": 1, "per_class.1[0]": 0.25, "per_class.1[1]": 0.5}
    shown = pages(registry(None, [{"name": "b1m4d1", "metrics": {"AUC": 0.5}},
                                  {"name": "b1m4d1-2", "metrics": {"AUC": 0.75, "per_class": {"0": 0.25}}}]))
    bench = shown["benchmarks/1"]
    assert bench["metrics"] == ["AUC", "per_class.0"]
    assert [r["result"] for r in latest(bench["leaderboard"])] == ["b1m4d1-2"]
    made = charts(bench)
    assert [c["metric"] for c in made] == ["AUC", "per_class.0"]
    assert ">0.75<" in made[0]["svg"] and "0.5<" not in made[0]["svg"].split("</desc>")[1].split("axis")[0]


def test_hostile_names_are_escaped_in_pages_and_charts():
    hostile = '<script>alert("x")</script>'
    model = registry(None, [{"name": "b1m4d1", "metrics": {"AUC": 0.5}}], model_name=hostile)
    shown = pages(model)
    svg = charts(shown["benchmarks/1"])[0]["svg"]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    html = environment().get_template("site/benchmark.html").render(
        **shown["benchmarks/1"], charts=charts(shown["benchmarks/1"]), key="benchmarks/1", root="../",
        registry_name="r")
    assert "<script>alert" not in html


def test_person_pages_leave_out_email_and_keys():
    shown = pages(registry(None, []))
    assert shown["people/do"]["person"] == {"handle": "do", "name": "Do"}
    assert [d["id"] for d in shown["people/do"]["datasets"]] == [1]
