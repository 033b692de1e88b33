"""Only a remote that cannot be reached counts as a network failure (local work kept, re-run resumes).

Every case is a real ``git fetch``: a missing path, a refused connection on 127.0.0.1, an https host
that does not answer; and, not a network failure, a ref the remote does not have.
"""

from __future__ import annotations

import pytest

from medperf_git.errors import GitError
from medperf_git.registry.git import init_bare, is_network_failure, run_git


def _fetch_error(repo, *args: str) -> GitError:
    with pytest.raises(GitError) as caught:
        run_git("fetch", *args, cwd=repo.path, timeout=30)
    return caught.value


@pytest.mark.parametrize("remote", ["/nonexistent/registry.git", "git://127.0.0.1:1/registry.git",
                                    "https://127.0.0.1:1/registry.git"])
def test_an_unreachable_remote_is_a_network_failure(tmp_path, remote):
    exc = _fetch_error(init_bare(tmp_path / "clone.git"), remote)
    assert exc.returncode == 128 and is_network_failure(exc), exc.stderr


def test_a_missing_ref_is_not(tmp_path):
    """git says "couldn't find remote ref": the remote answered, so retrying later would not help."""
    remote = init_bare(tmp_path / "remote.git")
    exc = _fetch_error(init_bare(tmp_path / "clone.git"), str(remote.path), "refs/heads/not-found")
    assert "find remote ref" in exc.stderr and not is_network_failure(exc)
