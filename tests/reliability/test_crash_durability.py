"""Crash test (issue 6, "no data loss"): index in a child process, ``kill -9`` it at
random moments, and check the catalog after each crash.

One Qdrant Edge catalog directory is reused by every trial, so videos acknowledged in
earlier trials must also survive every later crash (WAL replay on reopen). The child
(``crash_indexer.py``, embedded ONNX Runtime on the starter models) prints
``ACK <id> <keyframe_count>`` only after ``Orchestrator.index_video`` returned. Trial 0
runs to the end uncut and measures the indexing span; each later trial is SIGKILLed at
a seeded uniform delay in [0, 1.15 x span] after the child said READY. After each kill
the parent reopens the catalog and checks:

- every acknowledged video is present, with the key frame count stored at ack time, and
  exactly that many key frames of its committed generation are on disk (complete);
- every video visible (acknowledged or not: a kill between commit and ACK is allowed)
  is complete in the same sense: no half-indexed video is visible;
- each video acknowledged in this trial, and any unacknowledged one that is visible, is
  searchable: searching its own file returns it first.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vidsearch.catalog import schema as sc
from vidsearch.catalog.point_store import generation_of
from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog
from vidsearch.config import VidsearchConfig
from vidsearch.media.synthetic import generate_video_file
from vidsearch.orchestrator.api import SearchOptions
from vidsearch.orchestrator.factory import build_orchestrator
from vidsearch.orchestrator.orchestrator import Orchestrator

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"
CHILD = Path(__file__).with_name("crash_indexer.py")
# Killed trials, after one uncut calibration trial.
TRIALS = int(os.environ.get("CRASH_TRIALS", "20"))
PER_TRIAL = 4
SEED = 6


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vidsearch.evaluation.systems import export_release

    checkpoints = [STARTER / "video_hash.pt", STARTER / "barlow.pt"]
    missing = [str(p) for p in checkpoints if not p.is_file()]
    assert not missing, f"starter checkpoints missing (run `make models`): {missing}"
    repo = tmp_path_factory.mktemp("crash_repository")
    export_release(checkpoints, repo)
    return repo


def _config(repository: Path, catalog: Path) -> VidsearchConfig:
    config = VidsearchConfig()
    config.inference.backend = "onnxruntime"
    config.inference.model_repository = repository
    config.catalog.backend = "qdrant_edge"
    config.catalog.path = catalog
    return config


def _run_child(
    repository: Path, catalog: Path, jobs: list[tuple[str, Path]], kill_after: float | None
) -> tuple[list[tuple[str, int]], bool, float]:
    """(acks, finished, seconds from READY to DONE or to the kill)."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(repository), str(catalog)]
        + [f"{vid}={path}" for vid, path in jobs],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    lines: list[str] = []
    ready = threading.Event()
    ready_at = [0.0]

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("READY"):
                ready_at[0] = time.perf_counter()
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(120), f"child never got ready: {lines}"
        if kill_after is None:
            assert proc.wait(300) == 0
        else:
            try:
                proc.wait(kill_after)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)  # kill -9
                proc.wait(30)
        span = time.perf_counter() - ready_at[0]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
    reader.join(10)
    acks = [(p[1], int(p[2])) for p in (ln.split() for ln in lines) if p and p[0] == "ACK"]
    return acks, "DONE" in lines, span


def _frames_on_disk(orchestrator: Orchestrator, video_id: str) -> int:
    """Key frames of the video's committed generation actually stored."""
    catalog = orchestrator._catalog
    assert isinstance(catalog, QdrantEdgeCatalog)
    generation = catalog._committed({video_id})[video_id]
    return catalog.store.count(sc.KEYFRAMES, generation_of(video_id, generation))


def _check(
    orchestrator: Orchestrator,
    acked: dict[str, int],
    paths: dict[str, Path],
    searchable: set[str],
) -> dict[str, int]:
    """Check the reopened catalog; returns the visible videos never acknowledged."""
    catalog = orchestrator._catalog
    assert isinstance(catalog, QdrantEdgeCatalog)
    for vid, count in acked.items():
        info = orchestrator.get_video(vid)
        assert info is not None, f"acknowledged video {vid} lost"
        assert info.keyframe_count == count, f"{vid}: {info.keyframe_count} != acked {count}"
    visible = {info.video_id: info for info in catalog.iter_videos()}
    for vid, info in visible.items():
        assert info.keyframe_count > 0
        on_disk = _frames_on_disk(orchestrator, vid)
        assert on_disk == info.keyframe_count, f"{vid} partial: {on_disk}/{info.keyframe_count}"
    unacked = set(visible) - set(acked)
    for vid in sorted(searchable | unacked):
        hits = orchestrator.search_by_video(paths[vid], SearchOptions(top_k=3)).hits
        assert hits and hits[0].video.video_id == vid, f"{vid} not found first by its own file"
    return {vid: visible[vid].keyframe_count for vid in unacked}


@pytest.mark.timeout(420)
def test_kill_9_during_indexing_loses_nothing(repository: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    media = tmp_path / "media"
    catalog = tmp_path / "catalog"
    paths: dict[str, Path] = {}
    plan: list[list[tuple[str, Path]]] = []
    for trial in range(TRIALS + 1):
        jobs = []
        for i in range(PER_TRIAL):
            vid = f"t{trial:02d}-v{i}"
            seconds = 4.0 + (trial * PER_TRIAL + i) % 3
            path = generate_video_file(
                media / f"{vid}.mp4",
                1000 + trial * PER_TRIAL + i,
                seconds,
                fps=8.0,
                width=128,
                height=96,
            )
            paths[vid] = path
            jobs.append((vid, path))
        plan.append(jobs)

    acked: dict[str, int] = {}
    acks, finished, span = _run_child(repository, catalog, plan[0], kill_after=None)
    assert finished and [a for a, _ in acks] == [v for v, _ in plan[0]]
    acked.update(acks)
    orchestrator = build_orchestrator(_config(repository, catalog))
    try:
        assert not _check(orchestrator, acked, paths, set(acked))
    finally:
        orchestrator.close()

    outcomes: list[tuple[float, int, int]] = []  # (kill delay, acked, unacked visible)
    for trial in range(1, TRIALS + 1):
        delay = rng.uniform(0.0, 1.15 * span)
        acks, _, _ = _run_child(repository, catalog, plan[trial], kill_after=delay)
        assert [a for a, _ in acks] == [v for v, _ in plan[trial]][: len(acks)]
        acked.update(acks)
        orchestrator = build_orchestrator(_config(repository, catalog))
        try:
            unacked = _check(orchestrator, acked, paths, {a for a, _ in acks})
        finally:
            orchestrator.close()
        # A crash between the commit and the ACK line: visible, complete, and from now
        # on held to the same standard as acknowledged videos.
        acked.update(unacked)
        outcomes.append((delay, len(acks), len(unacked)))

    print(f"\ncalibration span {span:.2f} s; (kill delay s, acked, visible unacked):")
    print(" ".join(f"({d:.2f},{a},{u})" for d, a, u in outcomes))
    # The random kills covered the span: some before the first ACK, some mid-way.
    assert any(a == 0 for _, a, _ in outcomes)
    assert any(0 < a < PER_TRIAL for _, a, _ in outcomes)
