"""Packaging shim: everything is in pyproject.toml except the package list.

The JSON Schemas live in the top-level ``schemas/`` folder (the design card's layout) and ship as the
package ``medperf_git.schemas``. pyproject's package discovery only finds packages in their own
folders, so the list (found packages plus that one) and the folder mapping are given here.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["medperf_git", "medperf_git.*"]) + ["medperf_git.schemas", "medperf_git.ci"],
    package_dir={"medperf_git.schemas": "schemas", "medperf_git.ci": "ci"},  # ci/: written into GitHub registries
)
