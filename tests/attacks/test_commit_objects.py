"""Commit objects are read exactly as git reads them, or refused.

Hand-written commit objects (``git hash-object -t commit --literally``) can carry two ``tree``
headers, a ``parent`` after the author, extra headers, odd encodings. git reads them by rules of its
own; the tool must either read the same tree and parents, or refuse the object. The property test
mutates real commits thousands of times and asks git itself, through one ``cat-file --batch-check``
per batch, what it sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from medperf_git.flows.session import RegistrySession
from medperf_git.registry.commits import Identity, build_tree, commit_tree
from medperf_git.registry.git import GitRepo, init_bare
from medperf_git.registry.signing import generate_key, public_key
from medperf_git.registry.verify import MalformedCommit, object_problem, parse_commit, read_commit, verify_sshsig

BATCH = 100  # mutants per example
EXAMPLES = 25  # 2,500 mutations in all
MAX_PARENTS = 4
SIGNATURES_PER_BATCH = 6  # git verifies with one ssh-keygen each: a sample

_WORLD: dict = {}
_SEEN = {"accepted": 0, "refused": 0, "good signatures": 0}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("objects")
    repo = init_bare(root / "r.git")
    key = generate_key(root / "key" / "id_ed25519", "signer")
    signer = Identity("Signer", "signer@example.org", str(key))
    plain = Identity("Plain", "plain@example.org")
    t1 = build_tree(repo, None, {"registry.yaml": b"name: a\n"})
    t2 = build_tree(repo, None, {"registry.yaml": b"name: b\n", "people/eve.yaml": b"handle: eve\n"})
    root_commit = commit_tree(repo, t1, [], "root", plain)
    side = commit_tree(repo, t2, [root_commit], "side", signer)
    merge = commit_tree(repo, t2, [root_commit, side], "Merge\n\nSubmission: 1", signer)
    approval = commit_tree(repo, t2, [side], "Approve\n\nApproved-by: bo", signer)
    raws = {name: repo.read_blob(sha) for name, sha in
            (("root", root_commit), ("signed", side), ("merge", merge), ("approval", approval))}
    allowed = root / "allowed_signers"
    allowed.write_text(f"signer@example.org {public_key(key)}\n")
    _WORLD.update(repo=repo, raws=raws, trees=[t1, t2], commits=[root_commit, side, merge, approval],
                  key=public_key(key), allowed=allowed)
    yield _WORLD
    repo.close()


# ------------------------------------------------------------------------------------------ mutations
def _split(raw: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = raw.partition(b"\n\n")
    return head.split(b"\n"), body


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\n".join(lines) + b"\n\n" + body


def _extra_lines() -> list[bytes]:
    t1, t2 = _WORLD["trees"]
    c = _WORLD["commits"]
    return [f"tree {t1}".encode(), f"tree {t2}".encode(), f"parent {c[0]}".encode(), f"parent {c[1]}".encode(),
            f"parent {t1}".encode(), b"encoding ISO-8859-1", b"mergetag object " + c[0].encode(), b"gpgsig-sha256 x",
            b"foo bar", b"author Eve <eve@x> 1 +0000", b"committer Eve <eve@x> 1 +0000", b" continuation",
            b"gpgsig -----BEGIN SSH SIGNATURE-----", f"tree {t1.upper()}".encode(), b"tree", b"parent ", b""]


@st.composite
def mutant(draw) -> bytes:
    raw = _WORLD["raws"][draw(st.sampled_from(sorted(_WORLD["raws"])))]
    for _ in range(draw(st.integers(1, 3))):
        lines, body = _split(raw)
        op = draw(st.sampled_from(["dup", "swap", "insert", "delete", "case", "space", "separator", "nul",
                                   "message", "truncate", "flip", "replace"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        j = draw(st.integers(0, len(lines)))
        if op == "dup":
            lines.insert(j, lines[i])
        elif op == "swap":
            k = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[i], lines[k] = lines[k], lines[i]
        elif op == "insert":
            lines.insert(j, draw(st.sampled_from(_extra_lines())))
        elif op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "case":
            lines[i] = lines[i].upper() if draw(st.booleans()) else lines[i].capitalize()
        elif op == "space":
            lines[i] = lines[i] + draw(st.sampled_from([b" ", b"\r", b"\t"]))
        elif op == "separator":
            raw = draw(st.sampled_from([b"\n".join(lines) + b"\n" + body, _join(lines, b"\n" + body),
                                        b"\n".join(lines) + b"\r\n\r\n" + body]))
            continue
        elif op == "nul":
            lines[i] = lines[i][:j] + b"\0" + lines[i][j:]
        elif op == "message":
            body = body + draw(st.sampled_from([b"\nApproved-by: eve\n", b"\xff\xfe", b"\n\ntree " + b"0" * 40,
                                                b"\n\nApproved-by: bo\nApproved-by: eve\n"]))
        elif op == "truncate":
            raw = raw[:draw(st.integers(0, len(raw)))]
            continue
        elif op == "flip":
            head_len = len(b"\n".join(lines))
            at = draw(st.integers(0, max(0, head_len - 1)))
            joined = bytearray(_join(lines, body))
            joined[at] = draw(st.integers(0, 255))
            raw = bytes(joined)
            continue
        elif op == "replace":
            lines[i] = draw(st.sampled_from(_extra_lines()))
        raw = _join(lines, body)
    return raw


# ------------------------------------------------------------------------------------------ git's reading
def write_literally(repo: GitRepo, objects: list[bytes], folder: Path) -> list[str]:
    paths = []
    for n, data in enumerate(objects):
        path = folder / f"obj-{n}"
        path.write_bytes(data)
        paths.append(str(path))
    out = repo.git("hash-object", "-t", "commit", "--literally", "-w", "--stdin-paths",
                   input="\n".join(paths) + "\n").stdout
    return out.split()


def git_readings(repo: GitRepo, shas: list[str]) -> dict[str, tuple[str | None, list[str]]]:
    """``sha -> (tree, parents)`` as git reads them; (None, []) when git cannot parse the commit."""
    asks = [f"{sha}^{{tree}}" for sha in shas] + [f"{sha}^{n}" for sha in shas for n in range(1, MAX_PARENTS + 2)]
    out = repo.git("cat-file", "--batch-check=%(objectname)", input="\n".join(asks) + "\n").stdout.splitlines()
    answers = dict(zip(asks, out, strict=True))
    found = {}
    for sha in shas:
        tree = answers[f"{sha}^{{tree}}"]
        parents = []
        for n in range(1, MAX_PARENTS + 2):
            answer = answers[f"{sha}^{n}"]
            if answer.endswith("missing"):
                break
            parents.append(answer)
        found[sha] = (None if tree.endswith("missing") else tree, parents)
    return found


def git_signature_is_good(repo: GitRepo, sha: str) -> bool:
    """Does git's own SSH verification call the signature good (``%G?`` is G)? It dies on some
    malformed signatures, which is "not good" too."""
    proc = repo.git("-c", f"gpg.ssh.allowedSignersFile={_WORLD['allowed']}", "log", "-1", "--format=%G?", sha,
                    check=False, input=b"")  # bytes: git may echo the object's undecodable bytes
    return proc.returncode == 0 and proc.stdout.strip() == b"G"


# ------------------------------------------------------------------------------------------ the property
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(batch=st.lists(mutant(), min_size=BATCH, max_size=BATCH))
def test_every_mutant_is_read_as_git_reads_it_or_refused(world, tmp_path_factory, batch):
    repo: GitRepo = world["repo"]
    folder = tmp_path_factory.mktemp("mutants")
    shas = write_literally(repo, batch, folder)
    readings = git_readings(repo, shas)
    signed = []
    for sha, data in zip(shas, batch, strict=True):
        try:
            info, armored, payload = parse_commit(sha, data)
            if object_problem(repo, info):  # what read_commit adds to the text: tree and parents are real
                raise MalformedCommit
        except MalformedCommit:
            _SEEN["refused"] += 1
            continue  # refusing is always safe
        _SEEN["accepted"] += 1
        tree, parents = readings[sha]
        assert tree == info.tree, f"git reads tree {tree}, the tool {info.tree}:\n{data!r}"
        assert parents == info.parents, f"git reads parents {parents}, the tool {info.parents}:\n{data!r}"
        if armored is not None:
            signed.append((sha, armored, payload, data))
    for sha, armored, payload, data in signed[:SIGNATURES_PER_BATCH]:
        try:
            ours = verify_sshsig(armored, payload) == world["key"]
        except Exception:  # noqa: BLE001 - any refusal means "not a good signature"
            ours = False
        if ours:  # refusing a signature git would accept is safe (armor with stray characters); the reverse is not
            assert git_signature_is_good(repo, sha), f"the tool accepts a signature git refuses: {data!r}"
            _SEEN["good signatures"] += 1


def test_the_property_saw_both_readable_and_refused_objects():
    """Runs after the property (file order): it must have judged thousands, both ways."""
    assert _SEEN["accepted"] + _SEEN["refused"] >= 2_000
    assert _SEEN["accepted"] >= 100 and _SEEN["refused"] >= 100 and _SEEN["good signatures"] >= 5


# ------------------------------------------------------------------------------------------ the attacks
def test_two_tree_headers_are_refused_and_never_count(world):
    """The attack of the finding: the first tree is what git merges, the last what a naive reader sees."""
    repo: GitRepo = world["repo"]
    t1, t2 = world["trees"]
    lines, body = _split(world["raws"]["approval"])
    forged = _join([f"tree {t1}".encode(), *lines], body)  # git reads t1; the old reader read t2
    sha = repo.git("hash-object", "-t", "commit", "--literally", "-w", "--stdin", input=forged).stdout.decode().strip()
    with pytest.raises(MalformedCommit, match="second tree line"):
        parse_commit(sha, forged)
    info = read_commit(repo, sha)
    assert info.malformed and info.signature_key is None and info.trailers == {}
    assert info.tree == t1 == repo.root_tree(sha)  # git's reading, for walking history


# ------------------------------------------------------------------------------------------ with real commands
def _with_admin(target, handle: str) -> str:
    """registry.yaml of main with ``handle`` made an admin: what the attacker wants."""
    text = target.read(target.main, "registry.yaml")
    return text.replace("admins:\n", f"admins:\n- {handle}\n", 1)


def _two_trees(target, raw: bytes, first_tree: str) -> bytes:
    """The object with ``first_tree`` as its first ``tree`` line and its own tree line moved after the
    parents: git reads the first (and the parents right after it), a last-wins reader the other."""
    lines = raw.split(b"\n")
    own, at = lines[0], 1
    while lines[at].startswith(b"parent "):
        at += 1
    return b"\n".join([f"tree {first_tree}".encode(), *lines[1:at], own, *lines[at:]])


def test_a_hand_made_merge_with_two_trees_cannot_make_an_admin(tmp_path, invoke):
    """Finding 1: the merge git reads adds testdo to the admins; the old reader saw a clean merge."""
    from tests.attacks.hostile import MAIN, audit_lines, dataset, later, record, tutorial_target

    target = tutorial_target(tmp_path)
    with target.actors["testbo"].active():  # a user who has read the registry before
        assert invoke("benchmark", "ls").exit_code == 0
    main = target.main
    head = target.commit(target.tree(main, {"datasets/1.yaml": record(dataset(1, "testdo", "b"))}), [main],
                         "Register a dataset", "testdo")
    clean = target.clean_merge_tree(main, head)
    evil = target.tree(clean, {"registry.yaml": _with_admin(target, "testdo")})
    honest = target.raw(target.commit(clean, [main, head], "Merge submission", "testdo"))
    merge = target.literal_commit(_two_trees(target, honest, evil))
    target.set_ref(MAIN, merge)
    assert "- testdo" in target.read(merge, "registry.yaml")  # what git, and every checkout, sees

    code, output = audit_lines(invoke, target)
    assert code == 4, output
    assert f"{merge[:12]} MALFORMED" in output and "second tree line" in output
    later(target.actors["testbo"])
    with target.actors["testbo"].active():  # every client's fetch refuses it and keeps the verified copy
        listed = invoke("benchmark", "ls")
        refused = invoke("dataset", "ls", "--mine")
    assert listed.exit_code == 0 and "fails the audit" in listed.output
    assert refused.exit_code == 0 and main[:12] not in refused.output
    newcomer = target.outsider("newcomer")  # and someone reading it for the first time refuses it outright
    with newcomer.active():
        first = invoke("benchmark", "ls")
    assert first.exit_code == 4 and "MALFORMED" in first.output


def test_content_slipped_under_a_real_approval_is_never_merged(tmp_path, invoke, monkeypatch):
    """Finding 1: testbo's approval is pushed but the merge does not happen (the network drops). The author
    then stacks a commit whose first tree (git's) adds a second association request and whose other tree
    (what a last-wins reader took) is unchanged: it passed for one more approval, testbo's approval still
    counted, and testbo's next `review approve` merged content testbo never saw."""
    from medperf_git.errors import RemoteUnavailable
    from medperf_git.flows.submission import open_submission
    from medperf_git.forges.gitnative import GitNativeForge
    from tests.attacks.hostile import dataset, record, tutorial_target
    from tests.support.tutorial_registry import commit_records

    target = tutorial_target(tmp_path)
    commit_records(target.registry, target.actors["testadmin"],
                   {"datasets/1.yaml": dataset(1, "testdo", "c"), "datasets/2.yaml": dataset(2, "testdo", "d")},
                   "testdo's datasets")
    request = {"schema_version": 1, "kind": "association", "benchmark": 1, "dataset": 1, "initiated_by": "testdo"}
    with target.actors["testdo"].active():

        opened = open_submission(RegistrySession.load(), {"associations/1/dataset-1.yaml": record(request).encode()},
                                 "Associate dataset 1", "association")
    number = opened.submission.number

    def network_lost(*args, **kwargs):
        raise RemoteUnavailable("the network dropped")

    with target.actors["testbo"].active(), monkeypatch.context() as patch:
        patch.setattr(GitNativeForge, "merge", network_lost)
        first = invoke("review", "approve", str(number), "-y")
    assert first.exit_code == 1 and "network dropped" in first.output, first.output
    approval = target.git("rev-parse", f"refs/pull/{number}/head")
    assert "Approved-by: testbo" in target.git("log", "-1", "--format=%B", approval)
    tree = target.git("rev-parse", f"{approval}^{{tree}}")
    hidden = target.tree(approval, {"associations/1/dataset-2.yaml": record({**request, "dataset": 2})})
    raw = target.raw(target.commit(tree, [approval], f"Approve submission #{number}\n\nApproved-by: testdo",
                                   "testdo"))
    target.set_ref(f"refs/pull/{number}/head", target.literal_commit(_two_trees(target, raw, hidden)))

    with target.actors["testbo"].active():
        again = invoke("review", "approve", str(number), "--head",
                       target.git("rev-parse", f"refs/pull/{number}/head"), "-y")
    assert again.exit_code != 0 and "malformed commit object" in again.output, again.output
    assert "associations/1/dataset-2.yaml" not in target.git("ls-tree", "-r", "--name-only", "refs/heads/main")
