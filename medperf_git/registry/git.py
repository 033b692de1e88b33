"""Thin functions over the ``git`` command.

Every call goes through :func:`run_git`, which strips inherited ``GIT_*`` variables (so a hook
or a parent repository never leaks in) and turns failures into :class:`GitError` with git's own
words. Objects are read through one persistent ``cat-file --batch`` process per repository (pipelined
when a caller knows up front what it will read), and trees are walked in-process,
so a path lookup or a commit id costs no new git process.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from medperf_git.errors import GitError, RemoteUnavailable
from medperf_git.registry._catfile import CatFile

MIN_GIT = (2, 34)
_KEPT_ANSWERS = 4096  # answers a GitRepo keeps before it starts again
T = TypeVar("T")
_SHA = re.compile(r"[0-9a-f]{40}")
_CANONICAL_TREE_LINE = re.compile(rb"tree [0-9a-f]{40}\n")
_HEADER_IDS = re.compile(rb"^(?:tree|parent) ([0-9a-f]{40})$", re.M)
_TREE_ENTRY = re.compile(rb"(\d+) ([^\0]*)\0(.{20})", re.S)
_TREE_BYTES_PER_GIT_CALL = 64 * 1024  # parsing this much tree in Python costs about one git process
# A push to a local path runs that repository's hooks as the person pushing: never allow it.
SAFE_RECEIVE_PACK = "git -c core.hooksPath=/dev/null receive-pack"
_KEEP_ENV = ("GIT_SSH", "GIT_SSH_COMMAND", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
             "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE",
             "GIT_TERMINAL_PROMPT", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL")
# Commands that never move a ref: after any other, the remembered answers of ``rev_parse`` are dropped.
_REF_NEUTRAL = frozenset({"rev-parse", "cat-file", "for-each-ref", "log", "rev-list", "diff-tree", "ls-tree",
                          "merge-base", "ls-remote", "grep", "show", "hash-object", "mktree", "read-tree",
                          "write-tree", "update-index", "commit-tree", "--version", "verify-commit"})
# What git says, after "fatal: ", when it cannot reach a remote at all (git exits with 128 then). A
# message merely containing "not found" (a missing ref, a missing object) is no network failure.
_NETWORK_FAILURE = re.compile(
    r"^fatal: (?:Could not read from remote repository|'[^']*' does not appear to be a git repository|"
    r"unable to access '[^']*': |repository '[^']*' not found|unable to connect to |"
    r"Could not resolve host|.*Connection (?:refused|timed out|reset by peer))", re.M)


# A server that drops the connection before answering: busy, not gone.
_DROPPED = re.compile(r"Connection reset by peer|remote end hung up unexpectedly")
_RETRIED_READS = frozenset({"fetch", "ls-remote"})
BUSY_RETRIES = 4  # a read dropped this many times in a row is reported (after about 8 s of waits)


def is_object_id(text: str) -> bool:
    """A full (SHA-1) object id, as git prints it."""
    return _SHA.fullmatch(text) is not None


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP_ENV}
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def run_git(*args: str, cwd: str | os.PathLike | None = None, input: bytes | str | None = None,
            env: dict[str, str] | None = None, check: bool = True, timeout: float | None = None,
            what: str | None = None) -> subprocess.CompletedProcess:
    """Run git and return the completed process (stdout as text unless ``input`` is bytes)."""
    text = not isinstance(input, bytes)
    for attempt in range(BUSY_RETRIES + 1):
        try:
            proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, text=text,
                                  env=git_env(env), timeout=timeout, check=False)
        except FileNotFoundError:
            raise GitError("git is not installed", hint="install git 2.34 or newer") from None
        except subprocess.TimeoutExpired:
            raise RemoteUnavailable(f"git {args[0]} timed out after {timeout:.0f} s") from None
        if not _server_was_busy(args, proc) or attempt == BUSY_RETRIES:
            break
        import random
        import time

        time.sleep(random.uniform(0.25, 0.5) * 2 ** attempt)
    if check and proc.returncode != 0:
        stderr = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        message = (what or f"git {args[0]} failed") + (f": {last_line(stderr)}" if stderr.strip() else "")
        raise GitError(message, stderr=stderr, returncode=proc.returncode)
    return proc


def _server_was_busy(args: Sequence[str], proc: subprocess.CompletedProcess) -> bool:
    """Did a read from a remote fail because the server dropped the connection (a git daemon at its
    connection limit does, when dozens of clients ask at once)? Reads are safe to ask again; pushes are
    never retried here, since one cut off midway may have landed."""
    if proc.returncode != 128 or _command(args) not in _RETRIED_READS:
        return False
    stderr = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
    return bool(_DROPPED.search(stderr))


def _command(args: Sequence[str]) -> str:
    """The git command in ``args``, past any leading ``-c name=value``."""
    i = 0
    while i < len(args) and args[i] == "-c":
        i += 2
    return args[i] if i < len(args) else ""


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line.split(":", 1)[1].strip()
    return lines[-1] if lines else ""


def is_network_failure(exc: GitError) -> bool:
    """Did git fail because the remote could not be reached (then local work is kept and a re-run resumes)?"""
    return exc.returncode == 128 and bool(_NETWORK_FAILURE.search(exc.stderr or ""))


@functools.lru_cache(maxsize=1)
def git_version() -> tuple[int, ...]:
    out = run_git("--version").stdout
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    if not match:
        raise GitError(f"cannot read git's version from '{out.strip()}'")
    return tuple(int(x) for x in match.groups() if x is not None)


def check_git_version() -> None:
    """SSH-signed commits need git 2.34; fail early with a clear message."""
    version = git_version()
    if version[:2] < MIN_GIT:
        raise GitError(f"git {'.'.join(map(str, version))} is too old: medperf-git needs git "
                       f"{'.'.join(map(str, MIN_GIT))} or newer for SSH-signed commits",
                       hint="upgrade git, e.g. from your distribution's backports")


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    path: str


class GitRepo:
    """A repository on disk (usually the bare clone in the workspace)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._objects: CatFile | None = None
        self._trees: dict[str, dict[str, tuple[str, str]]] = {}
        self._roots: dict[str, str] = {}
        self._asked: dict[str, int] = {}
        self._prefetched: dict[str, bytes] = {}
        self._types: dict[str, str] = {}  # object id -> type, for objects whose type was asked or seen
        self._refs: dict[str, tuple[object, str | None]] = {}  # ref -> (its files' state, commit)
        self.derived: dict[tuple, object] = {}  # answers that depend on object ids only, kept for reuse

    def git(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        if self._refs and _command(args) not in _REF_NEUTRAL:
            self._refs.clear()
        return run_git(*args, cwd=self.path, **kwargs)

    def locked(self):
        """Hold the repository's ref lock: commands of one workspace that fetch into or move refs of the
        same clone (two terminals, the web app and the CLI) take turns instead of failing on git's ref locks."""
        from medperf_git.workspace.atomic import file_lock

        return file_lock(self.path / "medperf-git-refs.lock")

    def out(self, *args: str, **kwargs) -> str:
        return self.git(*args, **kwargs).stdout.strip()

    # Objects
    @property
    def objects(self) -> CatFile:
        """The repository's one object reader (persistent ``cat-file`` processes)."""
        if self._objects is None:
            self._objects = CatFile(self.path, git_env)
        return self._objects

    def read_blob(self, sha: str) -> bytes:
        """The raw contents of any object (blob, tree or commit)."""
        data = self._prefetched.pop(sha, None)
        if data is not None:
            return data
        found = self.objects.read(sha)
        if found is None:
            raise GitError(f"object {sha} is missing from {self.path}")
        return found[1]

    def prefetch(self, shas: Sequence[str]) -> None:
        """Read many objects now with one ``cat-file --batch``: each later ``read_blob`` of one of them
        (once) costs no round trip to git. For callers that know up front what they will read."""
        wanted = list(dict.fromkeys(sha for sha in shas if sha not in self._prefetched))
        named: set[str] = set()  # the trees and parents the commits name: their types are checked next
        for sha, found in zip(wanted, self.objects.read_many(wanted), strict=True):
            if found is not None:
                self._prefetched[sha] = found[1]
                self._types[sha] = found[0]
                if found[0] == "commit":
                    named.update(_HEADER_IDS.findall(found[1].partition(b"\n\n")[0]))
        self.learn_types(sha.decode() for sha in named)

    def learn_types(self, shas: Iterable[str]) -> None:
        """Find the types of many objects with one ``cat-file --batch-check`` (see :meth:`object_type`)."""
        unknown = [sha for sha in dict.fromkeys(shas) if sha not in self._types]
        if not unknown:
            return
        out = self.out("cat-file", "--batch-check=%(objectname) %(objecttype)", input="\n".join(unknown) + "\n")
        for line in out.splitlines():
            sha, _, kind = line.partition(" ")
            if kind and kind != "missing" and is_object_id(sha):
                self._types[sha] = kind

    def close(self) -> None:
        if self._objects is not None:
            self._objects.close()
            self._objects = None

    def rev_parse(self, rev: str) -> str | None:
        if is_object_id(rev) and self.object_type(rev) == "commit":
            return rev  # asked of every head and base: answered by the object reader, not a new git
        state = self._ref_state(rev)
        if state is not None and self._refs.get(rev, (None,))[0] == state:
            return self._refs[rev][1]
        proc = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        found = proc.stdout.strip() or None
        if state is not None:
            self._refs[rev] = (state, found)
        return found

    def _ref_state(self, ref: str) -> tuple | None:
        """What git would read a full ref name from: its loose file and ``packed-refs``. Git replaces
        either by a rename whenever the ref moves, so an unchanged state means an unchanged answer;
        git itself still resolves the ref. None (never remembered) for anything but a plain ref name."""
        if not ref.startswith("refs/") or ".." in ref or not re.fullmatch(r"[A-Za-z0-9._/-]+", ref):
            return None
        state = []
        for file in (self.path / ref, self.path / "packed-refs"):
            try:
                st = file.stat()
            except FileNotFoundError:
                state.append(None)
            except OSError:
                return None
            else:
                state.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        return tuple(state)

    def object_type(self, sha: str) -> str | None:
        """"blob", "tree", "commit" or "tag"; None when the object is missing (read in-process)."""
        known = self._types.get(sha)
        if known is None:
            found = self.objects.info(sha) if is_object_id(sha) else None
            if found is None:
                return None
            known = self._types[sha] = found[0]
        return known

    # Trees, read in-process: a policy decision looks up a handful of paths, a review of many
    # submissions looks up thousands on one base. A small tree is parsed at once; a large one (a
    # folder of 100,000 records) is asked of git until those calls have cost about what parsing it
    # would, then parsed: an audit touching each of many bases once never parses a big folder, a
    # review asking one base a thousand times parses it once.
    def tree_entries(self, tree: str) -> dict[str, tuple[str, str]]:
        """``name -> (mode, sha)`` of one tree object."""
        entries = self._trees.get(tree)
        if entries is None:
            raw = self.read_blob(tree)
            entries = {m.group(2).decode("utf-8", "surrogateescape"): (m.group(1).decode(), m.group(3).hex())
                       for m in _TREE_ENTRY.finditer(raw)}
            if len(self._trees) >= 64:
                self._trees.clear()
            self._trees[tree] = entries
        return entries

    def _tree_entry(self, tree: str, name: str) -> tuple[str, str] | None:
        if tree not in self._trees:
            asked = self._asked[tree] = self._asked.get(tree, 0) + 1
            if asked * _TREE_BYTES_PER_GIT_CALL < (self.objects.info(tree) or ("", 0))[1]:
                out = self.git("--literal-pathspecs", "ls-tree", "-z", tree, "--", name).stdout
                meta, _, listed = out.rstrip("\0").partition("\t")
                mode, _, sha = meta.split() if listed == name else ("", "", "")
                return (f"{int(mode, 8):o}", sha) if sha else None  # "040000" as trees spell it: "40000"
        return self.tree_entries(tree).get(name)

    def root_tree(self, rev: str) -> str:
        """The tree of commit ``rev``; GitError when there is no such commit."""
        tree = self._roots.get(rev)
        if tree is None:
            commit = self.rev_parse(rev)
            if commit is None:
                raise GitError(f"no commit {rev} in {self.path}")
            raw = self.read_blob(commit)
            if _CANONICAL_TREE_LINE.match(raw):
                tree = raw[5:45].decode()  # git, too, reads the first line's tree
            else:  # not as git writes commits: take git's own reading, never a second one
                tree = self.out("rev-parse", "--verify", f"{commit}^{{tree}}", what=f"cannot read commit {commit}")
            if commit == rev:  # a name may move; a commit id never does
                self._roots[commit] = tree
        return tree

    def lookup(self, rev: str, path: str) -> TreeEntry | None:
        """The entry at ``path`` in commit ``rev`` (a blob or a tree), or None."""
        return self.lookup_in_tree(self.root_tree(rev), path)

    def lookup_in_tree(self, tree: str, path: str) -> TreeEntry | None:
        """The entry at ``path`` below tree object ``tree``, or None."""
        sha, mode = tree, "40000"
        for name in path.strip("/").split("/"):
            if mode != "40000":
                return None
            found = self._tree_entry(sha, name)
            if found is None:
                return None
            mode, sha = found
        return TreeEntry(mode, "tree" if mode == "40000" else "commit" if mode == "160000" else "blob", sha, path)

    def ls_tree(self, rev: str, paths: Sequence[str] = ()) -> Iterator[TreeEntry]:
        """Every blob in ``rev`` (recursively), optionally limited to some paths."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", rev, "--", *paths).stdout
        for item in out.split("\0"):
            if not item:
                continue
            meta, path = item.split("\t", 1)
            mode, typ, sha = meta.split()
            yield TreeEntry(mode, typ, sha, path)

    def read_path(self, rev: str, path: str) -> bytes | None:
        entries = list(self.ls_tree(rev, [path]))
        if not entries or entries[0].type != "blob":
            return None
        return self.read_blob(entries[0].sha)

    def diff_tree(self, old: str, new: str) -> list[tuple[str, str, str, str]]:
        """(status, old blob, new blob, path) for every path that differs; renames are off."""
        def changes() -> list[tuple[str, str, str, str]]:
            out = self.git("diff-tree", "-r", "-z", "--no-renames", "--raw", old, new).stdout
            return [change[:4] for change in _raw_diff(out.split("\0")).get(None, [])]

        return list(self._by_ids(("diff_tree", old, new), changes))

    def diff_commits(self, pairs: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str, str, str]]]:
        """``new -> diff_tree(old, new)`` for many (old, new) commit pairs, in one git process.

        Each ``new`` appears once (it keys the answer); commits with an empty diff map to [].
        """
        return {new: [change[:4] for change in changes] for new, changes in self.diff_modes(pairs).items()}

    def diff_modes(self, pairs: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str, str, str, str]]]:
        """As :meth:`diff_commits`, each change with the new entry's mode last ("100644" for a plain file)."""
        answer: dict[str, list[tuple[str, str, str, str, str]]] = {new: [] for _, new in pairs}
        if pairs:
            lines = "".join(f"{new} {old}\n" for old, new in pairs)
            out = self.git("diff-tree", "--stdin", "-r", "-z", "--no-renames", "--raw", input=lines).stdout
            answer.update(_raw_diff(out.split("\0")))
        return answer

    def root_commits(self, rev: str) -> list[str]:
        return self.out("rev-list", "--max-parents=0", rev).split()

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        if ancestor == descendant and is_object_id(ancestor):
            return True
        return self._by_ids(("is_ancestor", ancestor, descendant), lambda: self.git(
            "merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0)

    def ancestors(self, commit: str) -> frozenset[str]:
        """Every commit reachable from ``commit`` (itself included), with one ``rev-list``."""
        return self._by_ids(("ancestors", commit), lambda: frozenset(self.out("rev-list", commit).split()))

    def merge_base(self, one: str, other: str) -> str | None:
        """The best common ancestor of two commits (None when they share none)."""
        return self._by_ids(("merge_base", one, other),
                            lambda: self.out("merge-base", one, other, check=False) or None)

    def _by_ids(self, key: tuple[str, ...], answer: Callable[[], T]) -> T:
        """``answer()``, kept when the question names object ids only (objects never change)."""
        if not all(map(is_object_id, key[1:])):
            return answer()
        return self.keep(key, answer)

    def keep(self, key: tuple, answer: Callable[[], T]) -> T:
        """``answer()``, remembered under ``key`` (a question about objects, which never change). Bounded, so a
        long-running process (the web app) does not grow without end."""
        if key not in self.derived:
            if len(self.derived) >= _KEPT_ANSWERS:
                self.derived.clear()
            self.derived[key] = answer()
        return self.derived[key]  # type: ignore[return-value]

    def hash_object(self, data: bytes) -> str:
        return self.git("hash-object", "-w", "--stdin", input=data).stdout.decode().strip()


def read_objects(repo: GitRepo, shas: Sequence[str]) -> Iterator[tuple[str, bytes] | None]:
    """(type, contents) of each of ``shas``, in order, pipelined through the repository's reader (None: missing)."""
    return iter(repo.objects.read_many(list(shas)))


def _raw_diff(parts: list[str]) -> dict[str | None, list[tuple[str, str, str, str, str]]]:
    """Parse ``diff-tree -z --raw`` output into (status, old, new, path, new mode); entries follow the commit
    id that heads them (None: no header)."""
    found: dict[str | None, list[tuple[str, str, str, str, str]]] = {}
    current: str | None = None
    i = 0
    while i < len(parts) - 1:
        meta = parts[i]
        if not meta.startswith(":"):
            if is_object_id(meta):
                current = meta
            i += 1
            continue
        _, new_mode, old_sha, new_sha, status = meta[1:].split()
        found.setdefault(current, []).append((status[0], old_sha, new_sha, parts[i + 1], new_mode))
        i += 2
    return found


def init_bare(path: str | os.PathLike, shared: bool = False, initial_branch: str = "main") -> GitRepo:
    args = ["init", "--bare", "-q", f"--initial-branch={initial_branch}"]
    if shared:
        args.append("--shared=group")
    run_git(*args, str(path))
    return GitRepo(path)


def push(repo: GitRepo, remote: str, refspecs: Iterable[str], *, atomic: bool = False,
         leases: Iterable[str] = (), env: dict[str, str] | None = None, check: bool = True,
         ) -> subprocess.CompletedProcess:
    """Push with hooks of local-path remotes disabled; leases are ``ref:expected`` strings."""
    args = ["push", "--porcelain"]
    if is_local_remote(remote):
        args.append(f"--receive-pack={SAFE_RECEIVE_PACK}")
    if atomic:
        args.append("--atomic")
    args += [f"--force-with-lease={lease}" for lease in leases]
    args += [remote, *refspecs]
    return repo.git(*args, env=env, check=check)


def is_local_remote(remote: str) -> bool:
    """A path or file:// URL: pushing there runs its hooks as us. (git://, ssh and https do not.)"""
    return remote.startswith("file://") or not re.match(r"^[a-z][a-z0-9+.-]*://|^[\w.-]+@[\w.-]+:", remote)
