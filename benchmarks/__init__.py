"""Benchmarks that write BENCHMARKS.md; outside the wheel, run from the repository root.

    python -m benchmarks --scenario configs/bench/release.yaml   (what `make bench` runs)

One module per section (catalog search, inference, end to end, load, text search), each a
config model, a ``run`` and a ``to_markdown``; ``harness`` holds what they share, and
``vidsearch.evaluation.report`` writes the sections (as it does for `vidsearch eval`).
"""
