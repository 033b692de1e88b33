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
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$")
_PERSON = re.compile(r"^(?P<name>.*?) <(?P<email>[^>]*)> (?P<ts>-?\d+) (?P<tz>[+-]\d{4})$")


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
def parse_commit(sha: str, raw: bytes) -> tuple[CommitInfo, bytes | None, bytes]:
    """(info without a signature verdict, armored signature or None, the payload that was signed)."""
    head, sep, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    kept: list[bytes] = []
    signature: list[bytes] | None = None
    in_sig = False
    tree, parents, author, committer = "", [], b"", b""
    for line in lines:
        if line.startswith(b" "):
            if in_sig and signature is not None:
                signature.append(line[1:])
                continue
            kept.append(line)
            continue
        in_sig = False
        key, _, value = line.partition(b" ")
        if key == b"gpgsig":
            signature = [value]
            in_sig = True
            continue
        kept.append(line)
        if key == b"tree":
            tree = value.decode()
        elif key == b"parent":
            parents.append(value.decode())
        elif key == b"author":
            author = value
        elif key == b"committer":
            committer = value
    payload = b"\n".join(kept) + sep + body
    message = body.decode("utf-8", "replace")
    author_match = _PERSON.match(author.decode("utf-8", "replace"))
    committer_match = _PERSON.match(committer.decode("utf-8", "replace"))
    info = CommitInfo(
        sha=sha, tree=tree, parents=parents,
        author_name=author_match["name"] if author_match else "",
        author_email=author_match["email"] if author_match else "",
        committer_date=int(committer_match["ts"]) if committer_match else 0,
        message=message, trailers=parse_trailers(message))
    return info, (b"\n".join(signature) if signature is not None else None), payload


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
    """Parse commit ``sha`` and verify its SSH signature (no subprocess per commit)."""
    full = sha if is_object_id(sha) else repo.rev_parse(sha)
    if full is None:
        raise GitError(f"no commit {sha} in {repo.path}")
    cache = _cache_for(repo)
    if full in cache:
        return cache[full]
    raw = repo.read_blob(full)
    info, armored, payload = parse_commit(full, raw)
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
    text = armored.decode("ascii", "replace").strip()
    if not text.startswith(_ARMOR_BEGIN) or _ARMOR_END not in text:
        raise _BadSignature("not an SSH signature")
    inner = text[len(_ARMOR_BEGIN):text.index(_ARMOR_END)]
    try:
        blob = base64.b64decode("".join(inner.split()), validate=True)
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
