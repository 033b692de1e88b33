"""Models side by side: up to N at once, each in a thread that waits on its task's process or cluster job.

Threads, not processes, because the work is in the tasks: a thread only waits. Whatever reads the
registry (its index is one SQLite connection, for one thread) happens before any thread starts, and
containers are resolved (fetched, unpacked) then too, so no two threads unpack the same archive; one
that fails to resolve is left to its thread, which reports it as that model's row, as a sequential run
does. Each model's task lines say which model they come from. Ctrl-C reaches only the main thread; it
sets ``INTERRUPT``, which stops every running task as if it had been interrupted itself.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Sequence
from typing import TypeVar

from medperf_git.flows._containers import ContainerRunner, RunSettings

T = TypeVar("T")
R = TypeVar("R")


THREADS = "medperf-git-model"


def labelled_settings(settings: RunSettings, model: int | str) -> RunSettings:
    """The same settings, whose task lines start with the model they come from (our own notes as they are).

    After Ctrl-C, a line reaching the model's own thread raises KeyboardInterrupt there: that is how a runner
    that reads its task's output in that thread (docker) learns of it and kills its container.
    """
    import threading

    from medperf_git.runners._process import INTERRUPT, NOTE

    output = settings.on_output

    def on_output(line: str) -> None:
        if INTERRUPT.is_set() and threading.current_thread().name.startswith(THREADS):
            raise KeyboardInterrupt
        if output is not None:
            output(line if line.startswith(NOTE) else f"[model {model}] {line}")

    return dataclasses.replace(settings, on_output=on_output)


def in_parallel(work: Callable[[T], R], items: Sequence[T], jobs: int) -> list[R]:
    """``work(item)`` for every item, ``jobs`` at a time, results in the order of ``items``."""
    from medperf_git.runners._process import INTERRUPT

    if jobs <= 1 or len(items) < 2:
        return [work(item) for item in items]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=THREADS)
    futures = [pool.submit(work, item) for item in items]
    try:
        pending = set(futures)
        while pending:  # in short waits, so that Ctrl-C is seen at once
            _, pending = concurrent.futures.wait(pending, timeout=0.5, return_when=concurrent.futures.FIRST_EXCEPTION)
            if any(f.done() and f.exception() is not None for f in futures):
                break
        results = [future.result() for future in futures]
    except BaseException:
        INTERRUPT.set()  # every running task stops; the pool then winds down
        pool.shutdown(wait=True, cancel_futures=True)
        INTERRUPT.clear()
        raise
    pool.shutdown(wait=True)
    return results


class _Resolved(ContainerRunner):
    """A runner over containers resolved beforehand; one that failed raises its error again, without the registry."""

    def __init__(self, runner: ContainerRunner, settings: RunSettings, failed: dict[int | str, Exception]):
        super().__init__(runner.s, settings)
        self._resolved = runner._resolved
        self._failed = failed

    def resolve(self, container: int | str):
        if container in self._failed:
            raise self._failed[container]
        return super().resolve(container)


def side_by_side(runner: ContainerRunner, models: Sequence[int], shared: Sequence[int | str],
                 work: Callable[[int, ContainerRunner], R], jobs: int) -> list[R]:
    """``work(model, runner)`` for every model, ``jobs`` at a time; each gets a runner over the containers
    resolved here, with its lines labelled."""
    failed: dict[int | str, Exception] = {}
    for container in (*models, *shared):
        try:
            runner.resolve(container)
        except Exception as exc:  # noqa: BLE001 - raised again in the threads that need it, as a sequential run would
            failed[container] = exc
    return in_parallel(lambda model: work(model, _Resolved(runner, labelled_settings(runner.settings, model), failed)),
                       models, jobs)
