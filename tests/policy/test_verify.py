"""Signature verification against signatures made by real git and ssh-keygen."""

from __future__ import annotations

import subprocess

import pytest

from medperf_git.registry.commits import Identity, build_tree, commit_tree
from medperf_git.registry.git import GitRepo, init_bare
from medperf_git.registry.signing import generate_key, public_key
from medperf_git.registry.verify import fingerprint, key_owner, parse_trailers, read_commit


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    return init_bare(tmp_path / "r.git")


def _key(tmp_path, kind: str, bits: str | None = None):
    path = tmp_path / f"id_{kind}{bits or ''}"
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)]
    if bits:
        args += ["-b", bits]
    subprocess.run(args, check=True, capture_output=True)
    return path


@pytest.mark.parametrize("kind,bits", [("ed25519", None), ("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521"),
                                       ("rsa", "2048")])
def test_valid_signature_names_the_key(tmp_path, repo, kind, bits):
    key = _key(tmp_path, kind, bits)
    tree = build_tree(repo, None, {"a.txt": b"x\n"})
    sha = commit_tree(repo, tree, [], "Add a\n\nApproved-by: bo\nApproved-by: mo", Identity("A", "a@x", str(key)))
    info = read_commit(repo, sha)
    assert info.signature_error is None
    assert info.signature_key == public_key(key)
    assert info.tree == tree and info.parents == []
    assert info.author_name == "A" and info.author_email == "a@x"
    assert info.trailers == {"Approved-by": ["bo", "mo"]}


def test_unsigned_and_tampered(tmp_path, repo):
    key = generate_key(tmp_path / "k" / "id_ed25519", "k")
    tree = build_tree(repo, None, {"a.txt": b"x\n"})
    unsigned = commit_tree(repo, tree, [], "plain", Identity("A", "a@x"))
    info = read_commit(repo, unsigned)
    assert info.signature_key is None and info.signature_error == "unsigned"

    signed = commit_tree(repo, tree, [], "original message", Identity("A", "a@x", str(key)))
    raw = repo.git("cat-file", "commit", signed).stdout
    forged = raw.replace("original message", "changed message")
    forged_sha = repo.git("hash-object", "-w", "-t", "commit", "--stdin", input=forged).stdout.strip()
    info = read_commit(repo, forged_sha)
    assert info.signature_key is None and info.signature_error == "bad signature"
    # ssh-keygen/git agree that the forged commit is not validly signed
    allowed = tmp_path / "allowed"
    allowed.write_text(f"a@x {public_key(key)}\n")
    ok = repo.git("-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", signed, check=False)
    bad = repo.git("-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", forged_sha, check=False)
    assert ok.returncode == 0 and bad.returncode != 0


def test_not_an_ssh_signature(repo):
    tree = build_tree(repo, None, {"a.txt": b"x\n"})
    raw = (f"tree {tree}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n"
           "gpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\nmsg\n")
    sha = repo.git("hash-object", "-w", "-t", "commit", "--stdin", input=raw).stdout.strip()
    info = read_commit(repo, sha)
    assert info.signature_key is None and info.signature_error == "not an SSH signature"
    assert info.message == "msg\n"


def test_fingerprint_matches_ssh_keygen(tmp_path):
    key = generate_key(tmp_path / "k" / "id_ed25519", "k")
    expected = subprocess.run(["ssh-keygen", "-l", "-f", str(key) + ".pub"], check=True, capture_output=True,
                              text=True).stdout.split()[1]
    assert fingerprint(public_key(key)) == expected
    assert fingerprint(public_key(key) + " comment") == expected


def test_key_owner_ignores_comments(tmp_path):
    key = public_key(generate_key(tmp_path / "k" / "id_ed25519", "k"))
    people = {"bo": ["ssh-ed25519 AAAAother"], "mo": [key + " mo@laptop"]}
    assert key_owner(key, people) == "mo"
    assert key_owner("ssh-ed25519 AAAAnobody", people) is None
    assert key_owner(None, people) is None


def test_trailers_only_from_last_paragraph():
    assert parse_trailers("Approve\n\nApproved-by: bo\n") == {"Approved-by": ["bo"]}
    assert parse_trailers("Approved-by: bo\n") == {}
    assert parse_trailers("Title\n\nsome prose\nApproved-by: bo\n") == {}
