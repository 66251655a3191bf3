"""Fixtures shared by the dependency-fault tests: the starter release exported to ONNX
(once per session) and a few small reference videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.bench.end_to_end import write_reference

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"
N_VIDEOS = 3


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed starter checkpoints as a versioned ONNX model repository."""
    from vidsearch.evaluation.systems import export_release

    checkpoints = [STARTER / "video_hash.pt", STARTER / "barlow.pt"]
    missing = [str(p) for p in checkpoints if not p.is_file()]
    assert not missing, f"starter checkpoints missing (run `make models`): {missing}"
    repo = tmp_path_factory.mktemp("fault_repository")
    export_release(checkpoints, repo)
    return repo


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three distinct 8 s references (v0, v1, v2)."""
    root = tmp_path_factory.mktemp("fault_videos")
    return [
        write_reference(root / f"v{i}.mp4", 100 + i, 8.0, fps=8.0, width=128, height=96)
        for i in range(N_VIDEOS)
    ]
