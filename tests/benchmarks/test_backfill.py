"""Smallest backfill benchmark: toy models, `vidsearch index` through the real server and
`vidsearch backfill` on a real local Ray over the same two references."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from benchmarks.__main__ import parse, reproduce
from benchmarks.backfill import BackfillBenchConfig, run, to_markdown

COMMAND = "python -m benchmarks --out B.md --sections backfill"


@pytest.mark.timeout(300)
def test_smallest_backfill_bench(tmp_path: Path) -> None:
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    cfg = BackfillBenchConfig(checkpoints=empty, references=2, ref_duration_s=3.0, width=160,
                              height=120, fps=8.0, workers=(1,), work_dir=tmp_path)  # fmt: skip
    result = run(cfg, log=lambda _: None)
    assert result.server.toy and len(result.server.index) == 2
    (workers, report), = result.runs
    assert workers == 1 and dict(report.outcomes) == {"indexed": 2} and report.wall_s > 0
    assert {"hash", "decode", "encode", "catalog_upsert"} <= set(report.stage_seconds)
    assert [p.nodes for p in report.projections] == [1, 4, 16]
    markdown = to_markdown(result, COMMAND)
    assert COMMAND in markdown and "—" not in markdown.split("### Projected")[0]
    row = next(line for line in markdown.splitlines() if line.startswith("| backfill, 1 "))
    assert re.search(rf"\| 2 \| {report.wall_s:.1f} \| {report.videos_per_s:.2f} \|", row)
    assert len([line for line in markdown.splitlines() if re.match(r"\| (1|4|16) \|", line)]) == 3


def test_backfill_section_in_the_release_scenario() -> None:
    cfg = BackfillBenchConfig(references=5, workers=(1, 2, 3))
    argv = shlex.split(reproduce(Path("B.md"), "backfill", cfg))[3:]
    assert parse(argv).backfill == cfg
    release = parse([])
    assert release.backfill.references > BackfillBenchConfig().references
    assert release.backfill.workers == (1, 2)
