"""Benchmarks: scripts that print figures and ratios measured in the same run (never timed asserts in tests)."""
