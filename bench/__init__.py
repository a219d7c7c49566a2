"""Benchmarks that print requests/s as ratios against a ceiling measured in the same run."""
