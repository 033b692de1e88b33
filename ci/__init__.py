"""The CI entry points (POSIX sh) that `registry init --host github` writes into a registry's ci/."""
