"""SSH signing keys: generated per person, used by git's ``gpg.format=ssh`` to sign commits.

Private keys stay in the workspace (mode 600) and are never printed, logged or committed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from medperf_git.errors import ConfigError, MedperfGitError


def generate_key(path: Path, comment: str) -> Path:
    """Create an ed25519 key pair at ``path`` (and ``path.pub``) unless it already exists."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    for stale in (tmp, tmp.with_name(tmp.name + ".pub")):
        stale.unlink(missing_ok=True)
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(tmp)],
                       check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise MedperfGitError("ssh-keygen is not installed", hint="install OpenSSH's client tools") from None
    except subprocess.CalledProcessError as exc:
        raise MedperfGitError(f"ssh-keygen failed: {exc.stderr.strip()}") from None
    os.replace(tmp.with_name(tmp.name + ".pub"), path.with_name(path.name + ".pub"))
    os.replace(tmp, path)
    return path


def public_key(private_key: str | os.PathLike) -> str:
    """The OpenSSH public key line for a private key file (``KEY.pub`` beside it, else derived)."""
    private_key = Path(private_key).expanduser()
    pub = private_key.with_name(private_key.name + ".pub")
    if pub.exists():
        text = pub.read_text().strip()
    else:
        if not private_key.exists():
            raise ConfigError(f"signing key {private_key} does not exist",
                              hint="run `medperf-git profile set --signing-key FILE`")
        proc = subprocess.run(["ssh-keygen", "-y", "-f", str(private_key)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ConfigError(f"cannot read the public key of {private_key}: {proc.stderr.strip()}")
        text = proc.stdout.strip()
    parts = text.split()
    if len(parts) < 2:
        raise ConfigError(f"{pub} is not an OpenSSH public key")
    return " ".join(parts[:2])


def signing_config(private_key: str | os.PathLike) -> list[str]:
    """``git -c`` arguments that make ``commit-tree -S``/``commit -S`` sign with this SSH key."""
    key = Path(private_key).expanduser()
    if not key.exists():
        raise ConfigError(f"signing key {key} does not exist",
                          hint="run `medperf-git profile set --signing-key FILE` or `medperf-git person register`")
    return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "-c", "commit.gpgsign=false"]


def default_key_path(keys_dir: Path, handle: str) -> Path:
    return keys_dir / handle / "id_ed25519"
