"""Who signed a commit: SSH signatures (SSHSIG, namespace ``git``) verified in-process.

The policy engine and the audit ask this for every commit of a submission and of main's history, so
verification must be cheap: commits are read through the repository's persistent ``cat-file --batch``
process and signatures are checked with ``cryptography``, never with one ``ssh-keygen`` per commit.
The result says which key made a valid signature; whose key that is comes from the people records of
the commit that judges it (:func:`key_owner`), never from the commit's own author fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from medperf_git.errors import GitError
from medperf_git.registry.git import GitRepo, is_object_id

SSHSIG_NAMESPACE = b"git"
_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$")
_PERSON = re.compile(r"(?P<name>[^<>\n]*?) <(?P<email>[^<>\n]*)> (?P<ts>0|[1-9]\d{0,15}) (?P<tz>[+-]\d{4})")


@dataclass
class CommitInfo:
    """A parsed commit and the verdict on its signature."""

    sha: str
    tree: str
    parents: list[str]
    author_name: str
    author_email: str
    committer_date: int
    message: str
    trailers: dict[str, list[str]] = field(default_factory=dict)
    signature_key: str | None = None  # "<type> <base64>" of the key that made a VALID SSH signature
    signature_error: str | None = None  # why there is no valid signature ("unsigned", "bad signature", ...)
    parent_tree: str | None = None  # the tree of the only parent (approval commits keep it unchanged)
    malformed: str | None = None  # why the object was refused (then tree and parents are git's reading)

    @property
    def signed(self) -> bool:
        return self.signature_key is not None

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]


class _BadSignature(Exception):
    pass


# ---------------------------------------------------------------------------------------------- keys
def normalize_key(key: str) -> str:
    """``"<type> <base64>"`` from an OpenSSH public key line (drops the comment)."""
    parts = key.split()
    return " ".join(parts[:2]) if len(parts) >= 2 else key.strip()


def fingerprint(key: str) -> str:
    """``SHA256:<base64>`` as ``ssh-keygen -l`` prints it."""
    parts = key.split()
    try:
        blob = base64.b64decode(parts[1] if len(parts) > 1 else parts[0], validate=True)
    except (binascii.Error, IndexError, ValueError):
        return "SHA256:?"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def key_owner(key: str | None, people: Mapping[str, Sequence[str]]) -> str | None:
    """The handle whose record lists ``key`` (compared without comments), else None."""
    if not key:
        return None
    owner_of = getattr(people, "owner_of", None)  # a lazy view of base records looks the key up itself
    if owner_of is not None:
        return owner_of(key)
    wanted = normalize_key(key)
    for handle, keys in people.items():
        for listed in keys or ():
            if isinstance(listed, str) and normalize_key(listed) == wanted:
                return handle
    return None


# ---------------------------------------------------------------------------------------------- commits
_TREE_LINE = re.compile(rb"tree ([0-9a-f]{40})")
_PARENT_LINE = re.compile(rb"parent ([0-9a-f]{40})")


class MalformedCommit(Exception):
    """A commit object that git could read differently from us: refused, never interpreted."""


def parse_commit(sha: str, raw: bytes) -> tuple[CommitInfo, bytes | None, bytes]:
    """(info without a signature verdict, armored signature or None, the payload that was signed).

    Only the canonical layout that ``git commit-tree`` writes is read: one ``tree``, the ``parent``
    lines right after it, one ``author``, one ``committer``, at most one ``gpgsig`` (SSH), a blank
    line, a UTF-8 message. Anything else (a second ``tree``, a ``parent`` after the author, an extra
    or misordered header, a NUL, another encoding) raises :class:`MalformedCommit`: git reads such
    objects by rules of its own (the first ``tree`` wins, late ``parent`` lines are ignored), and a
    second reading is exactly what an attacker needs.
    """
    if b"\0" in raw:
        raise MalformedCommit("it contains a NUL byte")
    head, sep, body = raw.partition(b"\n\n")
    if not sep:
        raise MalformedCommit("no blank line ends its headers")
    lines = head.split(b"\n")
    tree_match = _TREE_LINE.fullmatch(lines[0])
    if tree_match is None:
        raise MalformedCommit("it does not open with one canonical tree line")
    at = 1
    parents = []
    while at < len(lines) and (parent := _PARENT_LINE.fullmatch(lines[at])) is not None:
        parents.append(parent.group(1).decode())
        at += 1
    if at < len(lines) and lines[at].startswith(b"tree "):
        raise MalformedCommit("it has a second tree line (git reads only the first)")
    people = []
    for name in (b"author", b"committer"):
        line = lines[at] if at < len(lines) else b""
        if not line.startswith(name + b" "):
            raise MalformedCommit(f"its {name.decode()} line is missing or out of place")
        try:
            person = _PERSON.fullmatch(line[len(name) + 1:].decode("utf-8"))
        except UnicodeDecodeError:
            person = None
        if person is None:
            raise MalformedCommit(f"its {name.decode()} line is not 'Name <email> seconds +zone'")
        people.append(person)
        at += 1
    kept = lines[:at]
    signature: list[bytes] | None = None
    if at < len(lines) and lines[at].startswith(b"gpgsig "):
        signature = [lines[at][len(b"gpgsig "):]]
        at += 1
        while at < len(lines) and lines[at].startswith(b" "):
            signature.append(lines[at][1:])
            at += 1
    if at < len(lines):
        what = lines[at].split(b" ", 1)[0].decode("utf-8", "replace")[:40]
        raise MalformedCommit(f"it has a header git reads by other rules ('{what}')")
    try:
        message = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCommit("its message is not UTF-8") from None
    author, committer = people
    info = CommitInfo(sha=sha, tree=tree_match.group(1).decode(), parents=parents,
                      author_name=author["name"], author_email=author["email"],
                      committer_date=int(committer["ts"]), message=message, trailers=parse_trailers(message))
    payload = b"\n".join(kept) + sep + body
    return info, (b"\n".join(signature) if signature is not None else None), payload


def object_problem(repo: GitRepo, info: CommitInfo) -> str | None:
    """Why git could not read ``info`` as a commit although its text is canonical: its tree is not a
    tree, or a parent is not a commit (git refuses to parse such an object)."""
    if repo.object_type(info.tree) != "tree":
        return f"its tree {info.tree[:12]} is not a tree object here"
    for parent in info.parents:
        if repo.object_type(parent) != "commit":
            return f"its parent {parent[:12]} is not a commit object here"
    return None


def _git_reading(repo: GitRepo, sha: str, why: str) -> CommitInfo:
    """A refused object, with the tree and parents git itself sees (so that history stays walkable)."""
    tree = repo.git("rev-parse", "--verify", "--quiet", f"{sha}^{{tree}}", check=False).stdout.strip()
    listed = repo.git("rev-list", "--parents", "-n1", sha, check=False).stdout.split()
    return CommitInfo(sha=sha, tree=tree, parents=listed[1:], author_name="", author_email="", committer_date=0,
                      message="", signature_error=f"malformed commit object: {why}", malformed=why)


def parse_trailers(message: str) -> dict[str, list[str]]:
    """``Key: value`` lines of the message's last paragraph (only if every line there is one)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    if len(paragraphs) < 2:
        return {}
    trailers: dict[str, list[str]] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line.strip())
        if not match:
            return {}
        trailers.setdefault(match.group(1), []).append(match.group(2).strip())
    return trailers


def read_commit(repo: GitRepo, sha: str) -> CommitInfo:
    """Parse commit ``sha`` and verify its SSH signature (no subprocess per commit).

    A malformed object comes back with ``malformed`` set, no signature and no trailers, so that it
    can never count as signed, as an approval or as anyone's content.
    """
    full = sha if is_object_id(sha) else repo.rev_parse(sha)
    if full is None:
        raise GitError(f"no commit {sha} in {repo.path}")
    cache = _cache_for(repo)
    if full in cache:
        return cache[full]
    raw = repo.read_blob(full)
    try:
        info, armored, payload = parse_commit(full, raw)
        problem = object_problem(repo, info)
        if problem:
            raise MalformedCommit(problem)
    except MalformedCommit as exc:
        info = _git_reading(repo, full, str(exc))
        cache[full] = info
        return info
    known = _VERIFIED.get(str(repo.path), {}).get(full)
    if known is not None:
        info.signature_key, info.signature_error = known
    elif armored is None:
        info.signature_error = "unsigned"
    else:
        try:
            info.signature_key = verify_sshsig(armored, payload)
        except _BadSignature as exc:
            info.signature_error = str(exc)
        _VERIFIED.setdefault(str(repo.path), {})[full] = [info.signature_key, info.signature_error]
    if len(info.parents) == 1:
        info.parent_tree = _tree_of(repo, info.parents[0])
    cache[full] = info
    return info


def _tree_of(repo: GitRepo, sha: str) -> str | None:
    cached = _cache_for(repo).get(sha)
    if cached is not None:
        return cached.tree
    try:
        return repo.root_tree(sha)  # kept per commit: every submission's first commit has main as parent
    except GitError:
        return None


_CACHES: dict[str, dict[str, CommitInfo]] = {}
_VERIFIED: dict[str, dict[str, list]] = {}  # repository -> sha -> [key, error] of signatures checked


def verified_signatures(repo: GitRepo) -> dict[str, list]:
    """``sha -> [key, error]`` of every signature verified in ``repo``, for a caller to keep on disk.

    A commit's signature verdict never changes, so a client that saved it may hand it back
    (``dict.update``) rather than verify a thousand signatures again on its next run.
    """
    return _VERIFIED.setdefault(str(repo.path), {})


def _cache_for(repo: GitRepo) -> dict[str, CommitInfo]:
    """Commits never change, so a verdict per (repository, sha) is kept for the process's life."""
    cache = _CACHES.setdefault(str(repo.path), {})
    if len(cache) > 200_000:
        cache.clear()
    return cache


# ---------------------------------------------------------------------------------------------- SSHSIG
class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def string(self) -> bytes:
        if self.pos + 4 > len(self.data):
            raise _BadSignature("malformed SSH signature")
        size = int.from_bytes(self.data[self.pos:self.pos + 4], "big")
        start, self.pos = self.pos + 4, self.pos + 4 + size
        if self.pos > len(self.data):
            raise _BadSignature("malformed SSH signature")
        return self.data[start:self.pos]

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def fixed(self, size: int) -> bytes:
        chunk, self.pos = self.data[self.pos:self.pos + size], self.pos + size
        if len(chunk) != size:
            raise _BadSignature("malformed SSH signature")
        return chunk


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def verify_sshsig(armored: bytes, payload: bytes, namespace: bytes = SSHSIG_NAMESPACE) -> str:
    """The ``"<type> <base64>"`` key that validly signed ``payload``; raises _BadSignature otherwise."""
    lines = armored.decode("ascii", "replace").removesuffix("\n").split("\n")
    if len(lines) < 3 or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        raise _BadSignature("not an SSH signature")  # exactly as ssh-keygen writes it: no stray spaces
    if not all(_BASE64_LINE.fullmatch(line) for line in lines[1:-1]):
        raise _BadSignature("malformed SSH signature")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise _BadSignature("malformed SSH signature") from None
    reader = _Reader(blob)
    if reader.fixed(6) != b"SSHSIG" or int.from_bytes(reader.fixed(4), "big") != 1:
        raise _BadSignature("not an SSH signature")
    public_blob = reader.string()
    sig_namespace = reader.string()
    reserved = reader.string()
    hash_name = reader.string()
    signature_blob = reader.string()
    if sig_namespace != namespace:
        raise _BadSignature(f"signature namespace is '{sig_namespace.decode(errors='replace')}', not 'git'")
    if hash_name not in (b"sha512", b"sha256"):
        raise _BadSignature(f"unsupported signature hash {hash_name.decode(errors='replace')}")
    digest = hashlib.new(hash_name.decode(), payload).digest()
    signed = (b"SSHSIG" + _ssh_string(namespace) + _ssh_string(reserved) + _ssh_string(hash_name)
              + _ssh_string(digest))
    key_type = _verify_key_signature(public_blob, signature_blob, signed)
    return f"{key_type} {base64.b64encode(public_blob).decode()}"


def _verify_key_signature(public_blob: bytes, signature_blob: bytes, signed: bytes) -> str:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    key = _Reader(public_blob)
    key_type = key.string().decode("ascii", "replace")
    sig = _Reader(signature_blob)
    sig_type = sig.string().decode("ascii", "replace")
    sig_bytes = sig.string()
    try:
        if key_type == "ssh-ed25519":
            if sig_type != key_type:
                raise _BadSignature(f"signature type {sig_type} does not match key type {key_type}")
            ed25519.Ed25519PublicKey.from_public_bytes(key.string()).verify(sig_bytes, signed)
        elif key_type.startswith("ecdsa-sha2-nistp"):
            curves = {"nistp256": (ec.SECP256R1(), hashes.SHA256()), "nistp384": (ec.SECP384R1(), hashes.SHA384()),
                      "nistp521": (ec.SECP521R1(), hashes.SHA512())}
            curve_name = key.string().decode("ascii", "replace")
            if sig_type != key_type or curve_name not in curves or key_type != f"ecdsa-sha2-{curve_name}":
                raise _BadSignature(f"unsupported ECDSA signature {sig_type}")
            curve, hash_alg = curves[curve_name]
            public = ec.EllipticCurvePublicKey.from_encoded_point(curve, key.string())
            rs = _Reader(sig_bytes)
            der = utils.encode_dss_signature(rs.mpint(), rs.mpint())
            public.verify(der, signed, ec.ECDSA(hash_alg))
        elif key_type == "ssh-rsa":
            hash_alg = {"rsa-sha2-256": hashes.SHA256(), "rsa-sha2-512": hashes.SHA512()}.get(sig_type)
            if hash_alg is None:
                raise _BadSignature(f"RSA signature type {sig_type} is not accepted (use rsa-sha2-256/512)")
            e, n = key.mpint(), key.mpint()
            rsa.RSAPublicNumbers(e, n).public_key().verify(sig_bytes, signed, padding.PKCS1v15(), hash_alg)
        else:
            raise _BadSignature(f"unsupported key type {key_type}")
    except InvalidSignature:
        raise _BadSignature("bad signature") from None
    except (ValueError, TypeError) as exc:
        raise _BadSignature(f"malformed {key_type} key or signature: {exc}") from None
    return key_type
