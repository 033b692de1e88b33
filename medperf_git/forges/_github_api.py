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
SECONDARY_WAIT = 60.0  # seconds: GitHub asks for at least a minute after a secondary rate limit
MAX_WAIT = 1800.0  # seconds: a longer wait is not sat out; the command stops and says when to run again

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
    if not url.startswith(("https://", "http://127.0.0.1:", "http://localhost:")):  # never in clear on a network
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


def is_rate_limited(exc: BaseException) -> bool:
    """A 403 or 429 that says "slow down", as opposed to "not allowed"."""
    status, headers = _status(exc), _headers(exc)
    if status not in (403, 429):
        return False
    return (status == 429 or "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in message_of(exc).lower())


def retry_wait(exc: BaseException, attempt: int, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait before retrying, or None when the answer is final (or the wait too long to sit out).

    GitHub's rules: after ``retry-after``, wait that long; with no requests left, wait for
    ``x-ratelimit-reset``; any other secondary limit, wait at least a minute, doubling each time.
    """
    status = _status(exc)
    headers = _headers(exc)
    if is_rate_limited(exc):
        if headers.get("x-ratelimit-remaining") == "0" and "retry-after" not in headers:
            wait = max(0.0, float(headers.get("x-ratelimit-reset") or 0) - now()) + 1.0
        else:
            wait = max(SECONDARY_WAIT * 2 ** attempt, float(headers.get("retry-after") or 0))
        return wait if wait <= MAX_WAIT else None
    if status is not None and status >= 500:
        return min(30.0, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)
    return None


def call(fn: Callable[[], T], what: str, *, sleep: Callable[[float], Any] = time.sleep,
         tries: int = MAX_TRIES, done: Callable[[], T | None] | None = None) -> T:
    """Run one API call; retry rate limits and 5xx with back-off; translate the rest.

    A write passes ``done``, which says whether it happened after all (None: it did not): an answer
    that leaves it unknown (a 5xx, a dropped connection) is checked with it before any retry, so a
    comment is never posted twice and a merge reported failed that went through is seen.
    """
    from github import GithubException
    from requests import RequestException

    for attempt in range(tries):
        try:
            return fn()
        except GithubException as exc:
            wait = retry_wait(exc, attempt)
            unknown = not is_rate_limited(exc)  # a rate-limited request was refused before it was acted on
            if wait is None or attempt == tries - 1:
                if done is not None and _status(exc) and _status(exc) >= 500:
                    found = done()
                    if found is not None:
                        return found
                raise translate(exc, what) from None
        except RequestException as exc:
            unknown, wait = True, min(30.0, 0.5 * 2 ** attempt)
            if attempt == tries - 1:
                if done is not None and (found := done()) is not None:
                    return found
                raise RemoteUnavailable(f"{what}: cannot reach GitHub ({redact(type(exc).__name__)})",
                                        hint="check the network and the profile's github base_url; "
                                             "local work is kept: run the same command again") from None
        sleep(wait)
        if done is not None and unknown:
            found = done()
            if found is not None:
                return found
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


def app_token(app_id: str, private_key: str, repository: str, base_url: str | None = None) -> str:
    """A GitHub App installation token for one repository, minted here, inside the job, from the App's key.

    It lasts an hour and is limited to what the bot needs, on the registry repository alone (even if the
    App is installed on more); the key itself never leaves this process.
    """
    from github import Auth, GithubException, GithubIntegration

    owner, _, name = repository.partition("/")
    key = private_key.strip()
    if not (app_id.strip().isdigit() and "PRIVATE KEY" in key):
        raise ConfigError("the GitHub App id or private key is malformed",
                          hint="MEDPERF_GIT_APP_ID is the App's number; MEDPERF_GIT_APP_PRIVATE_KEY its .pem text")
    _secrets.add(key)
    auth = Auth.AppAuth(int(app_id), key)
    integration = GithubIntegration(auth=auth, base_url=(base_url or DEFAULT_API).rstrip("/"))
    try:
        installation = integration.get_repo_installation(owner, name)
        # PyGithub's get_access_token cannot name repositories: the same request, with them, signed by the
        # App's own JWT (the installation object's requester would mint a broader token of its own first)
        token = str(integration.requester.requestJsonAndCheck(
            "POST", f"/app/installations/{installation.id}/access_tokens",
            headers={"Authorization": f"Bearer {auth.token}"},
            input={"repositories": [name], "permissions": APP_PERMISSIONS})[1]["token"])
    except GithubException as exc:
        raise translate(exc, f"cannot mint the GitHub App's token for {repository}") from None
    _secrets.add(token)
    return token


APP_PERMISSIONS = {"contents": "write", "pull_requests": "write", "statuses": "write", "issues": "write"}

