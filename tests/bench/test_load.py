"""Smallest load benchmark: toy models, real server on loopback, more clients than slots."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.bench.load import LoadBenchConfig, config_argv, run_load_bench, to_markdown
from vidsearch.bench.run import SECTIONS, build_parser

COMMAND = "python -m vidsearch.bench.run --out B.md --sections load --load-duration 3"


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
    result = run_load_bench(cfg, log=lambda _: None)
    assert result.toy
    assert result.other_errors == 0, result.errors
    assert result.accepted >= 1
    assert result.accepted + result.rejected == len(result.calls) > 0
    assert all(c.latency_s > 0 for c in result.calls)
    markdown = to_markdown(result, COMMAND)
    assert COMMAND in markdown
    for row in ("accepted (OK)", "rejected (RESOURCE_EXHAUSTED)", "other errors"):
        assert row in markdown
    assert "| other errors | 0 |" in markdown.replace("  ", " ")
    assert "Offered" in markdown and "served" in markdown


def test_load_section_registered() -> None:
    assert "load" in SECTIONS
    cfg = LoadBenchConfig(clients=3, rate=7.5, duration_s=4.0)
    args = build_parser().parse_args(config_argv(cfg, SECTIONS["load"].prefix))
    from vidsearch.bench.load import config_from_args

    assert config_from_args(args, SECTIONS["load"].prefix) == cfg
    quick = build_parser(quick=True).parse_args([])
    assert quick.load_duration < LoadBenchConfig().duration_s
