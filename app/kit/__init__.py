"""Small shared building blocks used by every module."""
