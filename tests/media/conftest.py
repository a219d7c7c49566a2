"""The media suites run against the same real stack as the signaling ones."""

from tests.signaling.conftest import live_database, stack

__all__ = ["live_database", "stack"]
