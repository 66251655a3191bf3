"""Smallest end-to-end benchmark: toy models, real server on loopback, SDK over gRPC."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from benchmarks.__main__ import parse, reproduce
from benchmarks.end_to_end import OUTSIDE, EndToEndBenchConfig, plan_cuts, run, to_markdown
from vidsearch.config import SearchConfig

COMMAND = "python -m benchmarks --out B.md --sections end_to_end --end-to-end.references 2"


def test_plan_cuts() -> None:
    refs = [("a", 30.0), ("b", 30.0), ("c", 30.0)]
    assert plan_cuts(10, refs) == [("a", 10.0, 20.0)]
    assert plan_cuts(60, refs, first=1) == [("b", 0.0, 30.0), ("c", 0.0, 30.0)]
    assert plan_cuts(45, refs, first=2) == [("c", 0.0, 30.0), ("a", 0.0, 15.0)]
    assert plan_cuts(500, refs) == [("a", 0.0, 30.0), ("b", 0.0, 30.0), ("c", 0.0, 30.0)]


@pytest.mark.timeout(120)
def test_smallest_end_to_end_bench(tmp_path: Path) -> None:
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    cfg = EndToEndBenchConfig(
        checkpoints=empty,
        references=2,
        ref_duration_s=3.0,
        width=160,
        height=120,
        fps=8.0,
        render_scale=2,
        query_durations=(2.0, 5.0),
        searches=2,
        warmup=1,
        ingest_heights=(144,),
        work_dir=tmp_path,
    )
    result = run(cfg, log=lambda _: None)
    assert result.server.toy and "toy" in result.server.source
    assert [x.video_id for x in result.server.index] == ["ref0000", "ref0001"]
    assert all(x.wall_s > 0 and x.duration_s == 3.0 and x.bytes > 0 for x in result.server.index)
    assert result.stats is not None and result.stats.videos == 2
    assert result.stats.inference_backend == "onnxruntime"
    assert result.stats.catalog_backend == "qdrant_edge"
    assert [q.spec.label for q in result.queries] == ["2 s", "5 s"]
    long = result.queries[1].spec
    assert [c[0] for c in long.cuts] == ["ref0001", "ref0000"]  # 3 s + 2 s, two references
    for q in result.queries:
        assert len(q.e2e_s) == len(q.decode_s) == len(q.stages) == 2
        assert all(s > 0 for s in q.e2e_s + q.decode_s)
        assert q.mode == SearchConfig().mode  # the server's default
        assert {"decode", "encode"} <= set(q.stage_names())
        assert q.p50 > 0 and q.stage_median("decode") > 0  # figures, not timing claims
        assert q.ratio > 0
    ingest = [(r.width, r.height, r.jobs, r.videos) for r in result.ingest]
    assert ingest == [(160, 120, 1, 2), (160, 120, 2, 2), (256, 144, 1, 2), (256, 144, 2, 2)]
    assert all(r.video_s == 6.0 and r.wall_s > 0 and r.cpu_s > 0 for r in result.ingest)
    assert all(r.meets_target is None for r in result.ingest)  # the target is for 360p
    assert [p.name for p in tmp_path.iterdir()] == ["no-checkpoints"]  # work dir cleaned up

    md = to_markdown(result, COMMAND)
    lines = md.splitlines()
    assert lines[0].startswith("## End to end")
    assert lines[2] == f"Reproduce: `{COMMAND}`"
    assert lines[4].startswith("- Date: ") and lines[5].startswith("- Machine: ")
    assert "**`toy` family**" in md
    for heading in (
        "### Indexing throughput",
        "### SearchByVideo latency",
        "### Where the time goes",
        "### Ingest: several files at once",
    ):
        assert heading in md
    index_row = next(line for line in lines if line.startswith("| 2 | 3 | 160x120 @ 8 fps |"))
    cells = [c.strip() for c in index_row.strip("|").split("|")]
    assert len(cells) == 10 and all(float(c) > 0 for c in cells[3:])
    for label in ("2 s", "5 s"):
        row = next(line for line in lines if line.startswith(f"| {label} | ref"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(float(c) > 0 for c in cells[2:7])  # MB, p50, p95, CPU, decode-only
        assert cells[7].endswith("x") and float(cells[7][:-1]) > 0
        assert cells[8] == "—"  # the target is for a 10 s 360p query only
        assert re.fullmatch(r"\d/2", cells[9])
    assert any(line.startswith("| decode | ") for line in lines)
    assert any(line.startswith(f"| {OUTSIDE} | ") for line in lines)
    assert "| **end to end p50** |" in md
    for size, jobs in (("160x120", 1), ("160x120", 2), ("256x144", 1), ("256x144", 2)):
        row = next(line for line in lines if line.startswith(f"| {size} | {jobs} | 2 |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(float(c) > 0 for c in cells[3:7]) and cells[7] == "—"
        assert float(cells[4]) == pytest.approx(float(cells[3]) / result.machine.nproc, abs=0.1)


def test_reproduce_round_trips() -> None:
    """The section's Reproduce: line parses back to the same config, defaults and scenario
    overridden."""
    cfg = EndToEndBenchConfig(references=3, query_durations=(10.0, 60.0), media_dir=Path("m"))
    argv = shlex.split(reproduce(Path("B.md"), "end_to_end", cfg))[3:]
    assert argv[:4] == ["--out", "B.md", "--sections", "end_to_end"]
    assert all(a.startswith("--end-to-end.") for a in argv[4::2])
    assert "--end-to-end.query-durations" in argv and "10,60" in argv
    assert parse(argv).end_to_end == cfg
