"""Smallest inference benchmark on the toy family: real tritonserver, perf_analyzer quoted."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.inference import InferenceBenchConfig, run, to_markdown

pytestmark = pytest.mark.triton

COMMAND = "python -m benchmarks --sections inference --inference.iterations 3"


def test_smallest_inference_bench(tmp_path: Path) -> None:
    pytest.importorskip("pytriton", reason="nvidia-pytriton (the triton extra) is not installed")
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    cfg = InferenceBenchConfig(
        checkpoints=empty,
        batches=(1, 16),
        iterations=3,
        warmup=1,
        perf_concurrency=(2,),
        perf_window_ms=500,
        work_dir=tmp_path,
    )
    result = run(cfg, log=lambda _: None)
    assert "toy" in result.source
    measured = [r for r in result.rows if r.ort is not None]
    assert {r.model for r in measured} == {"frame_encoder", "hash_texture_heads", "video_embedder"}
    assert all(r.outputs_match for r in measured)
    skipped = [r for r in result.rows if r.ort is None]
    assert [(r.model, r.batch) for r in skipped] == [("video_embedder", 16)]  # max_batch_size 8
    assert len(result.perf) == 1, result.perf_error
    perf = result.perf[0]
    assert perf.returncode == 0, perf.output
    assert perf.throughput and perf.throughput > 0
    md = to_markdown(result, COMMAND)
    lines = md.splitlines()
    assert lines[0].startswith("## Inference")
    assert lines[2] == f"Reproduce: `{COMMAND}`"
    assert any(line.startswith("| frame_encoder | 16 |") for line in lines)
    assert "### perf_analyzer" in md and "Concurrency: 2, throughput:" in md
    assert [p.name for p in tmp_path.iterdir()] == ["no-checkpoints"]  # work dir cleaned up
