"""The one pipeline runner: per-stage latency, stage limits and deadline checks, the same
for every pipeline; and RepetitionRanker's single catalog read (on a real Qdrant Edge
catalog, calls counted by a thin pass-through wrapper)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidsearch import metrics
from vidsearch.catalog import HASH_BITS, QdrantEdgeCatalog, VideoRecord
from vidsearch.config import StageLimitsConfig
from vidsearch.deadline import DeadlineExceededError, RequestBudget
from vidsearch.orchestrator.admission import StageLimiters
from vidsearch.orchestrator.api import MatchedSegment
from vidsearch.orchestrator.encoding import EncodedVideo
from vidsearch.orchestrator.matching import FrameMatch, VideoMatch
from vidsearch.orchestrator.pipeline import PipelineRunner
from vidsearch.orchestrator.stages import RepetitionRanker, ResolvedOptions, SearchContext


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@dataclass
class Ctx:
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    seen: list[tuple[str, float]] = field(default_factory=list)


class Step:
    """Records its name and how many requests hold a slot of its resource meanwhile."""

    def __init__(self, name: str, resource: str | None) -> None:
        self.name, self.resource = name, resource

    def __call__(self, ctx: Ctx) -> None:
        held = _sample("vidsearch_stage_in_flight", stage=self.resource or "")
        ctx.seen.append((self.name, held))


def test_runner_times_each_stage_under_its_limit() -> None:
    runner = PipelineRunner(StageLimiters(StageLimitsConfig()))
    before = _sample("vidsearch_stage_seconds_count", pipeline="t_run", stage="store")
    ctx = Ctx()
    timings = runner.run("t_run", [Step("read", "decode"), Step("store", "catalog"),
                                   Step("free", None)], ctx)
    assert list(timings) == ["read", "store", "free"] and all(t >= 0 for t in timings.values())
    assert [name for name, _ in ctx.seen] == ["read", "store", "free"]
    assert ctx.seen[0][1] >= 1 and ctx.seen[1][1] >= 1  # each held its stage's slot
    assert _sample("vidsearch_stage_seconds_count", pipeline="t_run", stage="store") == before + 1


def test_runner_stops_a_late_request_before_the_next_stage() -> None:
    runner = PipelineRunner(StageLimiters(StageLimitsConfig()))
    before = _sample("vidsearch_requests_stopped_total", stage="t_first", reason="deadline")
    ctx = Ctx(budget=RequestBudget(-1.0))
    with pytest.raises(DeadlineExceededError, match="t_first"):
        runner.run("t_late", [Step("t_first", "decode"), Step("t_second", None)], ctx)
    assert ctx.seen == []
    assert _sample("vidsearch_requests_stopped_total", stage="t_first",
                   reason="deadline") == before + 1


class Counting:
    """Passes every call through to the real catalog and counts it by method name."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, dict[str, int]()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return counted


def _video(video_id: str, duration_s: float, rng: np.random.Generator) -> VideoRecord:
    code = np.where(rng.random(HASH_BITS) < 0.5, -1.0, 1.0).astype(np.float32)
    return VideoRecord(video_id, code, rng.normal(size=8).astype(np.float32), duration_s, 1)


def _match(video_id: str, seconds: float) -> VideoMatch:
    frames = tuple(FrameMatch(float(t), float(t), 2, 0.1) for t in range(int(seconds)))
    segment = MatchedSegment(0.0, seconds, 0.0, seconds, 1.0)
    return VideoMatch(video_id, frames, (segment,), seconds, 0.9)


def test_repetition_ranker_reads_its_candidates_in_one_catalog_call(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with QdrantEdgeCatalog(tmp_path / "catalog", texture_dim=8) as real:
        for video_id, duration in (("a", 10.0), ("b", 20.0), ("c", 40.0)):
            real.upsert_video(_video(video_id, duration, rng))
        catalog = Counting(real)
        options = ResolvedOptions(mode="keyframe", top_k=10, max_hamming=24, coarse_limit=100,
                                  keyframe_limit=50, max_texture_distance=None,
                                  min_repetition=0.3, model_version=None)
        ctx = SearchContext(path=Path("q.mp4"), options=options)
        bits = np.ones((10, HASH_BITS), np.float32)
        texture = np.zeros((10, 8), np.float32)
        ctx.encoded = EncodedVideo(bits, texture, bits[0], texture[0],
                                   np.arange(10, dtype=np.float64), 10.0, 1)
        ctx.matches = {v: _match(v, 5.0 if v == "b" else 8.0) for v in ("a", "b", "c", "gone")}
        RepetitionRanker(catalog)(ctx)
    assert catalog.calls == {"get_videos": 1}
    # 8 (b: 5) matched seconds of the 10 s query, the shorter side; "gone" is not indexed.
    assert [h.video.video_id for h in ctx.hits] == ["a", "c", "b"]
    assert [h.repetition for h in ctx.hits] == pytest.approx([0.8, 0.8, 0.5])
    assert [h.video.duration_s for h in ctx.hits] == [10.0, 40.0, 20.0]
