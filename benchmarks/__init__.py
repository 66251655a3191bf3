"""Benchmarks that write BENCHMARKS.md (``python -m benchmarks``; `make bench`): one module
per section, each a config model, a ``run`` and a ``to_markdown`` filling the section's text,
``sections/NAME.md``; ``harness`` holds what they share. Outside the wheel: run from the
repository root."""
