"""Models side by side: up to N at once, each in a thread that waits on its task's process or cluster job.

Threads, not processes, because the work is in the tasks: a thread only waits. Containers are resolved
(fetched, unpacked) once, before any thread starts, so no two threads unpack the same archive; one that
fails to resolve is left to its thread, which reports it as that model's row, as a sequential run does. Each
model's task lines say which model they come from. Ctrl-C reaches only the main thread; it sets
``INTERRUPT``, which stops every running task as if it had been interrupted itself.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Sequence
from typing import TypeVar

from medperf_git.flows._containers import ContainerRunner

T = TypeVar("T")


def _labelled(runner: ContainerRunner, model: int) -> ContainerRunner:
    """A runner sharing the resolved containers, whose task lines start with the model's id."""
    from medperf_git.runners._process import NOTE

    output = runner.settings.on_output

    def on_output(line: str) -> None:
        if output is not None:
            output(line if line.startswith(NOTE) else f"[model {model}] {line}")

    child = ContainerRunner(runner.s, dataclasses.replace(runner.settings, on_output=on_output))
    child._resolved = runner._resolved
    return child


def side_by_side(runner: ContainerRunner, models: Sequence[int], shared: Sequence[int | str],
                 work: Callable[[int, ContainerRunner], T], jobs: int) -> list[T]:
    """``work(model, runner)`` for every model, ``jobs`` at a time; results in the order of ``models``."""
    from medperf_git.runners._process import INTERRUPT

    for container in (*models, *shared):
        try:
            runner.resolve(container)
        except Exception:  # noqa: BLE001 - its thread meets the same error and reports it as that model's row
            continue
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="medperf-git-model")
    futures = [pool.submit(work, model, _labelled(runner, model)) for model in models]
    try:
        results = [future.result() for future in futures]
    except BaseException:
        INTERRUPT.set()  # every running task stops; the pool then winds down
        pool.shutdown(wait=True, cancel_futures=True)
        INTERRUPT.clear()
        raise
    pool.shutdown(wait=True)
    return results
