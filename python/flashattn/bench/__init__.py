"""Benchmark harness (DESIGN.md §5): `python -m flashattn.bench --help`."""
