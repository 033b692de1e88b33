"""The registry repository: git access, the local clone, the index and queries."""
