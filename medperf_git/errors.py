"""Every error a user can see, with its exit code.

One table of exit codes serves every command; ``cli.main`` is the only place that turns these
exceptions into output and an exit status.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_LINT = 3
EXIT_POLICY = 4
EXIT_CONTAINER = 5
EXIT_HASH = 6
EXIT_INTERRUPTED = 130


class MedperfGitError(Exception):
    """Base of every expected failure: a message for the user and an optional next step."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None):
        assert message, "an error needs a message"
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MedperfGitError):
    exit_code = EXIT_USAGE


class ConfigError(MedperfGitError):
    """The workspace configuration or a profile is missing or invalid."""


class RecordInvalid(MedperfGitError):
    """A record or input file failed validation; the message names file, line and field."""

    exit_code = EXIT_LINT


class LintFailed(MedperfGitError):
    exit_code = EXIT_LINT


class RecordNotFound(MedperfGitError, LookupError):
    pass


class IdConflict(MedperfGitError):
    pass


class PolicyDenied(MedperfGitError):
    exit_code = EXIT_POLICY


class AuditFailed(MedperfGitError):
    exit_code = EXIT_POLICY


class GitError(MedperfGitError):
    """A git command failed; carries git's own stderr."""

    def __init__(self, message: str, hint: str | None = None, stderr: str = "", returncode: int = 1):
        super().__init__(message, hint)
        self.stderr = stderr
        self.returncode = returncode


class RemoteUnavailable(GitError):
    """The registry remote could not be reached or refused a push; local work is kept."""


class ForgeError(MedperfGitError):
    pass


class RunnerUnavailable(MedperfGitError):
    pass


class ContainerConfigInvalid(MedperfGitError):
    exit_code = EXIT_LINT


class ContainerFailed(MedperfGitError):
    exit_code = EXIT_CONTAINER


class HashMismatch(MedperfGitError):
    exit_code = EXIT_HASH

    def __init__(self, what: str, expected: str, found: str, hint: str | None = None):
        super().__init__(f"hash mismatch for {what}: expected {expected}, found {found}", hint)
        self.expected = expected
        self.found = found


class UnsafeArchive(MedperfGitError):
    pass


class DownloadError(MedperfGitError):
    pass
