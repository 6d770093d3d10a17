"""Benchmark of the provider: ``python -m bench.run`` (see docs/performance.md)."""
