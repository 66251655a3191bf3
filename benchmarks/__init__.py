"""Benchmarks that write BENCHMARKS.md (``python -m benchmarks``; `make bench`): one module
per section, each a config model, a ``run`` and a ``to_markdown``; ``harness`` holds what they
share. Outside the wheel: run from the repository root."""
