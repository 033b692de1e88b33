"""The tutorial's end state, made with the flows as the commands make it: a prepared, submitted and
associated dataset, a benchmark run, and both results published (local runner, this Python)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from medperf_git.flows import dataset as dataset_flow, result as result_flow, review
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.execution import run_benchmark
from medperf_git.flows.session import RegistrySession
from tests.support.actors import Actor
from tests.support.tutorial_registry import make_raw_data, seed_tutorial_registry

YES = lambda record: True  # noqa: E731 - answers every confirmation


@dataclass
class Tutorial:
    registry: Path
    actors: dict[str, Actor]
    raw: Path


def settings() -> RunSettings:
    return RunSettings(runner="local", python=sys.executable)


def seeded(root: Path) -> Tutorial:
    """The tutorial registry before the data owner's first step; every profile runs the local runner."""
    registry, actors, _ = seed_tutorial_registry(root, runner="local", python=sys.executable)
    return Tutorial(registry, actors, make_raw_data(root / "raw"))


def command(actor: Actor, fn, *args, **kwargs):
    """One command of ``actor``'s: its own registry session, closed afterwards."""
    with actor.active():
        s = RegistrySession.load()
        try:
            return fn(s, *args, **kwargs)
        finally:
            s.close()


def approve(actor: Actor, number: int) -> None:
    """A committee member approves submission ``number`` (what `review approve N -y` does)."""
    def run(s, number):
        shown = review.prepare_approval(s, number)
        return review.approve(s, number, expected_head=shown.submission.head, shown=shown)

    command(actor, run, number)


def finished(root: Path) -> Tutorial:
    """The registry once the tutorial is done, with b1m2d1 and b1m4d1 both on main."""
    t = seeded(root)
    do = t.actors["testdo"]
    created = command(do, dataset_flow.create, benchmark=1, name="mytestdata", description="A tutorial dataset",
                      location="My machine", data_path=t.raw / "images", labels_path=t.raw / "labels",
                      settings=settings())
    command(do, dataset_flow.submit, created.dataset.uid, YES)
    asked = command(do, dataset_flow.associate, benchmark=1, data_uid="1", confirm=YES, settings=settings())
    if not asked.merged:
        approve(t.actors["testbo"], asked.number)
    command(do, run_benchmark, benchmark=1, data_uid="1", settings=settings())
    for name in ("b1m2d1", "b1m4d1"):
        outcome = command(do, result_flow.submit, name, YES)
        if not outcome.merged:
            approve(t.actors["testbo"], outcome.number)
    return t
