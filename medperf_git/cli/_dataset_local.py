"""How `dataset` commands show what this machine holds: local datasets, and what create and submit made."""

from __future__ import annotations

from typing import Any

from medperf_git.cli._output import out


def _rows(s, unregistered: bool) -> list[dict[str, Any]]:
    from medperf_git.flows.dataset import list_local as flow

    rows = []
    for d in flow(s):
        if unregistered and d.registry_id is not None:
            continue
        rows.append({"uid": d.uid, "name": d.info.get("name"), "benchmark": d.info.get("benchmark"),
                     "data_preparation": d.info.get("data_preparation"), "state": d.state, "prepared": d.ready,
                     "registry_id": d.registry_id, "submission": d.info.get("submission"),
                     "generated_uid": d.info.get("generated_uid"), "input_data_hash": d.info.get("input_data_hash"),
                     "medperf_generated_uid": d.info.get("medperf_generated_uid"),
                     "medperf_input_data_hash": d.info.get("medperf_input_data_hash"),
                     "prepared_at": d.info.get("prepared_at")})
    return rows


def local_records(s) -> list[dict[str, Any]]:
    """`dataset view --unregistered`: this machine's datasets that are not published, in full."""
    return _rows(s, unregistered=True)


def list_local(s, as_json: bool, unregistered: bool = False) -> None:
    """The datasets on this machine (with --unregistered, those not published yet), then the next step."""
    rows = _rows(s, unregistered)
    if as_json:
        out.json(rows)
        return
    out.table([(r["uid"], r["name"], r["benchmark"] or "-", r["state"], "yes" if r["prepared"] else "no",
                r["registry_id"] if r["registry_id"] is not None else "-") for r in rows],
              ["UID", "Name", "Benchmark", "State", "Prepared", "Registry ID"])
    todo = next((r for r in rows if r["registry_id"] is None), None)
    if todo is not None and not todo["prepared"]:
        out.next_step(f"medperf-git dataset prepare --data_uid {todo['uid'][:12]}")
    elif todo is not None:
        out.next_step(f"medperf-git dataset submit --data_uid {todo['uid'][:12]}",
                      "or `dataset set_operational`: both publish it")
    elif rows:
        out.next_step(f"medperf-git dataset associate --benchmark_uid {rows[0]['benchmark'] or 'BENCHMARK'} "
                      f"--data_uid {rows[0]['registry_id']}")


def _already(twin, what: str) -> None:
    who = "you" if twin.local is not None else (twin.owner or "someone")
    out.warn(f"{what} are registered already: dataset {twin.registry_id} (registered by {who})")


def report_created(result, benchmark: int) -> None:
    """What `dataset create` made, or the registered dataset these data already are."""
    from medperf_git.flows import dataset as flow

    ds = result.dataset
    twin = result.registered
    if not result.prepared:
        out.success(f"These data are registered already as dataset {twin.registry_id} "
                    f"('{ds.info.get('name')}', local UID {ds.uid[:12]}); nothing was prepared again")
        out.next_step(f"medperf-git dataset associate --benchmark_uid {benchmark} --data_uid {twin.registry_id}")
        return
    if result.reused:
        out.info(f"These data were prepared before; the local dataset {ds.uid[:12]} was kept.")
    out.success(f"Dataset prepared with the {result.runner} runner (isolation: {result.isolation})")
    out.echo(f"Generated UID: {ds.uid}")
    out.info(f"Statistics: {', '.join(f'{k}={v}' for k, v in result.statistics.items() if not isinstance(v, dict))}")
    if twin is not None:
        _already(twin, "These prepared data")
        if twin.local is not None and ds.registry_id == twin.registry_id:
            out.next_step(f"medperf-git dataset associate --benchmark_uid {benchmark} "
                          f"--data_uid {twin.registry_id}")
            return
    problems = flow.published_number_problems("statistics", flow.as_published(result.statistics))
    if problems:
        # Said now rather than at `dataset submit`: only the benchmark's owners can fix their container.
        out.warn("these statistics cannot be published (the registry takes only numbers), so `dataset submit` "
                 "will refuse them:\n" + flow.problem_listing(problems))
        out.next_step(f"ask the owners of benchmark {benchmark} to fix its data preparation container")
        return
    out.next_step(f"medperf-git dataset submit --data_uid {ds.uid}",
                  "publish the dataset's description; the data stays here")


def report_registered(result) -> None:
    """What MedPerf's `dataset submit` made here: a dataset to prepare, known by its UID."""
    ds = result.dataset
    if result.existing:
        out.info(f"These raw data are registered here already as {ds.uid[:12]} ('{ds.info.get('name')}'); "
                 "it was kept.")
    else:
        out.success(f"Dataset '{ds.info['name']}' registered on this machine; nothing is published until "
                    "`dataset set_operational`")
    if result.registered is not None:
        _already(result.registered, "These raw data, for this preparation container,")
    out.echo(f"UID: {ds.uid}")
    next_for(ds, "associate")


def next_for(ds, when_published: str) -> None:
    """The next step of a local dataset: prepare it, publish it, or (published) associate it or run."""
    benchmark = ds.info.get("benchmark") or "BENCHMARK"
    if ds.registry_id is not None and when_published == "associate":
        out.next_step(f"medperf-git dataset associate --benchmark_uid {benchmark} --data_uid {ds.registry_id}")
    elif ds.registry_id is not None:
        out.next_step(f"medperf-git benchmark run --benchmark {benchmark} --data_uid {ds.registry_id}")
    elif ds.ready:
        out.next_step(f"medperf-git dataset set_operational --data_uid {ds.uid[:12]}",
                      "publish the dataset's description (hashes, statistics); the data stays here")
    else:
        out.next_step(f"medperf-git dataset prepare --data_uid {ds.uid[:12]}",
                      "run the benchmark's preparation container on it")
