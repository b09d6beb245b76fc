"""Benchmarks against a bare Bolt app (DESIGN.md §11)."""
