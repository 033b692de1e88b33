"""medperf-git: MedPerf's benchmarking workflow with a Git repository as the registry."""

__version__ = "0.1.0"
