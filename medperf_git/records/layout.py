"""Where each record lives in a registry repository, and what a path says about its record.

Existence checks come from paths alone, so they never need to parse a file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

REGISTRY_FILE = "registry.yaml"
RECORD_FOLDERS = ("people", "containers", "benchmarks", "datasets", "associations", "results")
# Files that may sit beside the records. Anything else is a placement error.
ALLOWED_EXTRA_FILES = ("README.md", ".gitattributes", ".gitignore", ".gitkeep")
ADMIN_ONLY_PREFIXES = (".github/", "ci/")  # the CI that judges everyone: admins only
# Unicode categories of characters that a path must not hold: controls (newlines included), format
# characters (the right-to-left override), surrogates (bytes that are not UTF-8), private and unassigned.
_FORBIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")

_ID = r"[1-9][0-9]{0,8}"
_PATTERNS = {
    "person": re.compile(r"people/(?P<handle>[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?)\.yaml"),
    "container": re.compile(rf"containers/(?P<id>{_ID})\.yaml"),
    "benchmark": re.compile(rf"benchmarks/(?P<id>{_ID})\.yaml"),
    "dataset": re.compile(rf"datasets/(?P<id>{_ID})\.yaml"),
    "association": re.compile(
        rf"associations/(?P<benchmark>{_ID})/(?P<component>dataset|model)-(?P<id>{_ID})\.yaml"),
    "result": re.compile(
        rf"results/(?P<benchmark>{_ID})/(?P<name>b(?P<b>{_ID})m(?P<model>{_ID})d(?P<dataset>{_ID})"
        r"(?:-(?P<rerun>[2-9]|[1-9][0-9]+))?)\.yaml"),
}  # matched whole (``fullmatch``): "datasets/1.yaml\n" is not "datasets/1.yaml"


@dataclass(frozen=True)
class RecordPath:
    """A record's identity as its path tells it."""

    kind: str
    path: str
    key: str  # the handle, the id, "<benchmark>/<component>-<id>", or "<benchmark>/<result name>"
    id: int | None = None
    benchmark: int | None = None
    component: str | None = None  # "dataset" or "model" for associations and results

    @property
    def dataset(self) -> int | None:
        return self.id if self.component == "dataset" else None


def parse_path(path: str) -> RecordPath | None:
    """The record a repository path holds, or None when the path holds no record."""
    if path == REGISTRY_FILE:
        return RecordPath("registry", path, "registry")
    top = path.split("/", 1)[0]
    kind = {"people": "person", "containers": "container", "benchmarks": "benchmark",
            "datasets": "dataset", "associations": "association", "results": "result"}.get(top)
    if kind is None:
        return None
    match = _PATTERNS[kind].fullmatch(path)
    if not match:
        return None
    g = match.groupdict()
    if kind == "person":
        return RecordPath(kind, path, g["handle"])
    if kind == "association":
        return RecordPath(kind, path, f"{g['benchmark']}/{g['component']}-{g['id']}", int(g["id"]),
                          int(g["benchmark"]), g["component"])
    if kind == "result":
        if g["b"] != g["benchmark"]:
            return None
        return RecordPath(kind, path, f"{g['benchmark']}/{g['name']}", None, int(g["benchmark"]))
    return RecordPath(kind, path, g["id"], int(g["id"]))


def normalize_name(name: str) -> str:
    """Record names collide case- and '-'/'_'-insensitively (and spaces count as '-')."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def record_path(kind: str, key: str | int, benchmark: int | None = None, component: str | None = None) -> str:
    """The path of a record from its identity (the inverse of :func:`parse_path`)."""
    if kind == "registry":
        return REGISTRY_FILE
    if kind == "person":
        return f"people/{key}.yaml"
    if kind == "association":
        return f"associations/{benchmark}/{component}-{key}.yaml"
    if kind == "result":
        return f"results/{benchmark}/{key}.yaml"
    folder = {"container": "containers", "benchmark": "benchmarks", "dataset": "datasets"}[kind]
    return f"{folder}/{key}.yaml"


def result_name(benchmark: int, model: int, dataset: int, rerun: int = 1) -> str:
    base = f"b{benchmark}m{model}d{dataset}"
    return base if rerun <= 1 else f"{base}-{rerun}"


def path_problem(path: str) -> str | None:
    """Why nobody, admins included, may put a file at ``path``; None when the name is sound.

    Lint and policy both ask this, so a name that one tool, file system or screen would read
    differently from another (a newline, a right-to-left override, a decomposed accent, ``..``)
    never reaches main.
    """
    for char in path:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            what = "bytes that are not UTF-8" if unicodedata.category(char) == "Cs" else \
                f"an invisible or control character (U+{ord(char):04X})"
            return f"the path holds {what}"
    if "\\" in path:
        return "the path holds a backslash"
    if unicodedata.normalize("NFC", path) != path:
        return "the path is not in Unicode normal form C (an accent written as two characters)"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "the path has an empty, '.' or '..' component"
        if part.casefold() == ".git":
            return "the path has a '.git' component"
    return None


def printable(path: str) -> str:
    """A path as one printable line: bytes that are not UTF-8, controls and invisible characters escaped."""
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(char if char.isprintable() and unicodedata.category(char) not in _FORBIDDEN_CATEGORIES
                   else ascii(char)[1:-1] for char in text)


def fold(path: str) -> str:
    """What a case-insensitive file system makes of a path: two paths that fold alike are twins."""
    return unicodedata.normalize("NFC", path).casefold()


def case_twins(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(path, the earlier path it collides with) for every path that folds like another one."""
    first: dict[str, str] = {}
    twins = []
    for path in sorted(paths):
        other = first.setdefault(fold(path), path)
        if other != path:
            twins.append((path, other))
    return twins
