"""Talking to the GitHub REST API through PyGithub: the token, retries, and errors a person can read.

The token is a secret: it comes from the environment or the profile, goes only into PyGithub's
``Authorization`` header and git's ``http.extraHeader`` (never a URL, never argv), and every message
that leaves here is passed through :func:`redact`.
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from medperf_git.errors import ConfigError, ForgeError, RemoteUnavailable

T = TypeVar("T")
TOKEN_VARS = ("MEDPERF_GIT_GITHUB_TOKEN", "GITHUB_TOKEN")
DEFAULT_API = "https://api.github.com"
MAX_TRIES = 6
MAX_WAIT = 60.0  # seconds: never sleep longer than this for one rate-limit answer

_secrets: set[str] = set()


def redact(text: str) -> str:
    """``text`` with every token this process has seen replaced by ``***``."""
    for secret in _secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def resolve_token(settings: dict | None) -> str:
    """The token from ``MEDPERF_GIT_GITHUB_TOKEN``, ``GITHUB_TOKEN``, the variable the profile's
    ``github.token_env`` names, or the profile's ``github.token``."""
    settings = settings or {}
    names = TOKEN_VARS + ((str(settings["token_env"]),) if settings.get("token_env") else ())
    for var in names:
        if os.environ.get(var):
            token = os.environ[var]
            break
    else:
        token = str(settings.get("token") or "")
    if not token:
        raise ConfigError("no GitHub token: set MEDPERF_GIT_GITHUB_TOKEN (or GITHUB_TOKEN)",
                          hint="or `medperf-git profile set --github token=...`; the token needs "
                               "contents and pull requests access to the registry repository")
    _secrets.add(token)
    return token


def repository_from_url(url: str) -> str | None:
    """``owner/name`` of a GitHub clone URL (https or ssh), or None."""
    import re

    match = re.search(r"[:/]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$", url.strip())
    return f"{match.group(1)}/{match.group(2)}" if match and ("://" in url or "@" in url) else None


def client(token: str, base_url: str | None = None, *, throttle: bool = True):
    """A PyGithub client without its own retries (ours know which answers are worth retrying)."""
    from github import Auth, Github

    _secrets.add(token)
    extra = {} if throttle else {"seconds_between_requests": None, "seconds_between_writes": None}
    return Github(auth=Auth.Token(token), base_url=(base_url or DEFAULT_API).rstrip("/"), retry=None,
                  timeout=30, per_page=100, **extra)


def git_auth_env(token: str, url: str) -> dict[str, str]:
    """Environment that makes git send the token to an https remote, without putting it in the URL."""
    if not url.startswith("https://"):
        return {}
    _secrets.add(token)
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    _secrets.add(basic)
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status", None)


def _headers(exc: BaseException) -> dict[str, str]:
    return {k.lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()}


def message_of(exc: BaseException) -> str:
    """GitHub's own words for an error answer, redacted."""
    data = getattr(exc, "data", None)
    text = ""
    if isinstance(data, dict):
        text = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            parts = [str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e) for e in errors]
            text += " (" + "; ".join(parts) + ")"
    return redact(text or str(data or exc.__class__.__name__))


def retry_wait(exc: BaseException, attempt: int) -> float | None:
    """Seconds to wait before retrying, or None when the answer is final."""
    status = _status(exc)
    headers = _headers(exc)
    backoff = min(MAX_WAIT, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)
    if status in (403, 429):
        if "retry-after" in headers:
            return min(MAX_WAIT, float(headers["retry-after"] or 0))
        if headers.get("x-ratelimit-remaining") == "0":
            reset = float(headers.get("x-ratelimit-reset") or 0)
            return min(MAX_WAIT, max(0.0, reset - time.time()) + 0.5)
        if status == 429 or "rate limit" in message_of(exc).lower():
            return backoff
        return None
    if status is not None and status >= 500:
        return backoff
    return None


def call(fn: Callable[[], T], what: str, *, sleep: Callable[[float], Any] = time.sleep,
         tries: int = MAX_TRIES) -> T:
    """Run one API call; retry rate limits and 5xx with back-off; translate the rest."""
    from github import GithubException
    from requests import RequestException

    for attempt in range(tries):
        try:
            return fn()
        except GithubException as exc:
            wait = retry_wait(exc, attempt)
            if wait is None or attempt == tries - 1:
                raise translate(exc, what) from None
            sleep(wait)
        except RequestException as exc:
            if attempt == tries - 1:
                raise RemoteUnavailable(f"{what}: cannot reach GitHub ({redact(type(exc).__name__)})",
                                        hint="check the network and the profile's github base_url; "
                                             "local work is kept: run the same command again") from None
            sleep(min(MAX_WAIT, 0.5 * 2 ** attempt))
    raise AssertionError("unreachable")


class GitHubError(ForgeError):
    """An answer from GitHub that is not success; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status


def translate(exc: BaseException, what: str) -> GitHubError:
    status = _status(exc)
    text = message_of(exc)
    if status == 401:
        return GitHubError(f"{what}: GitHub refused the token (401 {text})", status,
                           hint="check MEDPERF_GIT_GITHUB_TOKEN: it may be expired or revoked")
    if status in (403, 429):
        return GitHubError(f"{what}: GitHub refused ({status} {text})", status,
                           hint="the token may lack permission on the registry repository, or the rate "
                                "limit is exhausted: wait and run the same command again")
    if status == 404:
        return GitHubError(f"{what}: not found on GitHub (404)", status,
                           hint="check the repository name and that the token can see it")
    if status == 409:
        return GitHubError(f"{what}: GitHub reports a conflict (409 {text})", status,
                           hint="the pull request changed meanwhile: review it again")
    if status == 422:
        return GitHubError(f"{what}: GitHub rejected the request as invalid (422 {text})", status,
                           hint="the pull request or branch may already exist, or the branch was deleted")
    if status is not None and status >= 500:
        return GitHubError(f"{what}: GitHub is failing ({status} {text})", status,
                           hint="local work is kept: run the same command again later")
    return GitHubError(f"{what}: {status or ''} {text}".strip(), status)
