"""Benchmarks against a bare Bolt app: ratios to it, measured in the same run."""
