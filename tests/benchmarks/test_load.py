"""Smallest load benchmark: toy models, real server on loopback, more clients than slots."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from benchmarks.__main__ import parse, reproduce
from benchmarks.load import LoadBenchConfig, run, to_markdown

COMMAND = "python -m benchmarks --out B.md --sections load --load.duration-s 3"


@pytest.mark.timeout(180)
def test_smallest_load_bench(tmp_path: Path) -> None:
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    cfg = LoadBenchConfig(
        checkpoints=empty,
        references=2,
        ref_duration_s=3.0,
        width=160,
        height=120,
        fps=8.0,
        max_concurrent=1,
        clients=4,
        rate=16.0,
        duration_s=3.0,
        work_dir=tmp_path,
    )
    result = run(cfg, log=lambda _: None)
    assert result.server.toy
    assert set(result.latencies) == {"ok", "RESOURCE_EXHAUSTED"}, result.errors  # no other error
    assert not result.errors
    assert len(result.latencies["ok"]) >= 1
    calls = [s for seconds in result.latencies.values() for s in seconds]
    assert calls and all(s > 0 for s in calls)
    markdown = to_markdown(result, COMMAND)
    assert COMMAND in markdown
    for row in ("accepted (OK)", "rejected (RESOURCE_EXHAUSTED)", "other errors"):
        assert row in markdown
    assert "| other errors | 0 |" in markdown.replace("  ", " ")
    assert "Offered" in markdown and "served" in markdown


def test_load_section_in_the_release_scenario() -> None:
    cfg = LoadBenchConfig(clients=3, rate=7.5, duration_s=4.0)
    argv = shlex.split(reproduce(Path("B.md"), "load", cfg))[3:]
    assert parse(argv).load == cfg
    release = parse([])
    assert "load" in release.sections
    assert release.load.duration_s > LoadBenchConfig().duration_s
