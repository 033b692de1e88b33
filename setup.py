"""Packaging for medperf-git: a Git-backed, serverless MedPerf registry and client."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="medperf-git",
    version="0.1.0",
    description="Benchmark medical AI models on private data, with a Git repository as the registry",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["medperf_git", "medperf_git.*"]) + ["medperf_git.schemas"],
    package_dir={"medperf_git.schemas": "schemas"},
    package_data={"medperf_git.schemas": ["*.json"], "medperf_git": ["data/**/*"]},
    include_package_data=True,
    install_requires=[
        "click>=8.1",
        "pyyaml>=6.0",
        "jsonschema>=4.18",
        "jsonschema-rs>=0.30",  # lint's fast path: valid or not, in microseconds
        "gitpython>=3.1.40",
        "docker>=7.0",
        "jinja2>=3.1",
        "tabulate>=0.9",
        "cryptography>=41",
    ],
    extras_require={
        "test": ["pytest>=7.4", "pytest-timeout>=2.2", "ruff>=0.4", "numpy", "pillow", "PyGithub>=2.1",
                 "check-jsonschema>=0.28", "hypothesis>=6.80"],
        "github": ["PyGithub>=2.1"],
    },
    entry_points={"console_scripts": ["medperf-git=medperf_git.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Operating System :: POSIX :: Linux",
    ],
)
