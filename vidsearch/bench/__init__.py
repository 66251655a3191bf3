"""Benchmarks that write BENCHMARKS.md: catalog search and inference latency.

    python -m vidsearch.bench.run --out BENCHMARKS.md [--sections catalog,inference] [--quick]

``report.update_section`` is the shared writer: each benchmark owns one marked section.
"""
